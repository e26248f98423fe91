# The README's commands. `make run` and `make test` each set up everything they need first.
PYTHON ?= python3.12
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
INSTALLED := $(VENV)/.installed

.PHONY: install run test train bench
.DEFAULT_GOAL := run

$(INSTALLED): requirements/runtime.txt requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	touch $@

install: $(INSTALLED)

## Serve the bundled model on http://127.0.0.1:$(PORT) with chalice local (no AWS account).
run: $(INSTALLED)
	$(BIN)/chalice local --host 127.0.0.1 --port $(PORT)

## Run the whole test suite.
test: $(INSTALLED)
	$(BIN)/python -m pytest

## Retrain the bundled model; the artifact and metadata in model/ are rewritten.
train: $(INSTALLED)
	$(BIN)/python -m model.train

## Run the benchmarks; their figures are written to docs/benchmarks/.
bench: $(INSTALLED)
	$(BIN)/python -m benchmarks.observability_overhead
