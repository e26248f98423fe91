# The README's commands. `make run` and `make test` each set up everything they need first.
PYTHON ?= python3.12
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
INSTALLED := $(VENV)/.installed
CDK_INSTALLED := infra/node_modules/.installed
# jsii (CDK's bridge to Node.js) warns at every start that Node 20 is end-of-life; the variable
# silences it for the Node majors it lists (not for "1" or "true").
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION = 20
# Offline-friendly CDK: no telemetry; the venv's python runs infra/app.py.
CDK := cd infra && PATH="$(abspath $(BIN)):$$PATH" CDK_DISABLE_CLI_TELEMETRY=true \
	node_modules/.bin/cdk
CONTEXT ?=
PYTEST ?=
STAGE ?= dev

MODEL_DIR ?= model
# Two, as CI's cores. Each test file runs whole in one process, so its module fixtures are
# built once; the session's (the image build, the synthesized stacks) once per process.
TEST_WORKERS ?= 2
# Lint caches live outside the clone, so a second clean clone on this machine reuses them
# (strict mypy over aws_cdk's stubs takes minutes cold, seconds warm).
CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/sleep-advisor
MYPY := $(abspath $(BIN))/mypy --config-file $(abspath pyproject.toml) --cache-dir $(CACHE_DIR)/mypy

.PHONY: install run check-model lint test test-fast test-integration train bench bench-loop drift-simulation alarm-replay drift-report lock synth bootstrap deploy destroy smoke gc-images
.DEFAULT_GOAL := run

$(INSTALLED): requirements/runtime.txt requirements/runtime-no-deps.txt \
		requirements/scikit-learn.txt requirements/onnxruntime.txt requirements/dataframe.txt \
		requirements/model-libraries.txt requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	touch $@

$(CDK_INSTALLED): infra/package.json infra/package-lock.json
	cd infra && npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(INSTALLED) $(CDK_INSTALLED)

## Serve the bundled model on http://127.0.0.1:$(PORT) with chalice local (no AWS account).
## The model is checked first: Chalice's reloader would wait, not exit, on a model that fails.
run: $(INSTALLED)
	$(BIN)/python -m chalicelib.saving check "$${SLEEP_ADVISOR_MODEL_DIR:-model}"
	$(BIN)/chalice local --host 127.0.0.1 --port $(PORT)

## Check a model directory as the function would load it, and print the API it gets: here,
## then in the image's own task root (built from the locks once, then cached).
check-model: $(INSTALLED)
	$(BIN)/python -m chalicelib.saving check $(MODEL_DIR)
	$(BIN)/python -m model.image_check $(MODEL_DIR)

## Run the whole test suite: every layer, integration included (what CI runs), in TEST_WORKERS
## processes (pytest-xdist); it names its slowest ten tests at the end.
test: $(INSTALLED) $(CDK_INSTALLED)
	$(BIN)/python -m pytest --durations=10 -n $(TEST_WORKERS) --dist loadfile

## The fast loop: unit, API (test client) and in-process infrastructure tests, for the model
## in MODEL_DIR (default model/): `make test-fast MODEL_DIR=path/to/your/model`;
## `make test-fast PYTEST=--lf` reruns what failed last.
test-fast: $(INSTALLED)
	SLEEP_ADVISOR_MODEL_DIR=$(abspath $(MODEL_DIR)) HYPOTHESIS_PROFILE=fast \
		$(BIN)/python -m pytest -p no:schemathesis -p no:anyio $(PYTEST) \
		tests/unit tests/api tests/infra

## Real processes only: chalice local, the runtime client, the image build, the CDK CLI.
test-integration: $(INSTALLED) $(CDK_INSTALLED)
	$(BIN)/python -m pytest tests/integration

## Lint and strictly type-check every layer: the service, model, harness, tests, benchmarks, infra.
lint: $(INSTALLED)
	$(BIN)/ruff check --cache-dir $(CACHE_DIR)/ruff .
	MYPYPATH=$(abspath infra) $(MYPY) app.py chalicelib model harness tests benchmarks \
		infra/sleep_advisor_infra infra/smoke.py
	# infra/app.py is the CDK app's entry point: a module "app" of its own, checked apart.
	cd infra && MYPYPATH=$(abspath .) $(MYPY) app.py

## Retrain the bundled model; the artifact and metadata in model/ are rewritten. It refuses to
## overwrite another model there unless REPLACE=1.
train: $(INSTALLED)
	$(BIN)/python -m model.train $(if $(REPLACE),--replace)

## Run the benchmarks; their figures are written to docs/benchmarks/.
bench: $(INSTALLED)
	$(BIN)/python -m benchmarks.run

## Time the development loop on a fresh clone (test-fast, lint, CI); writes docs/development-loop.md.
bench-loop: $(INSTALLED) $(CDK_INSTALLED)
	$(BIN)/python -m benchmarks.dev_loop

## A simulated week through the app and the drift check, healthy and shifted, for both committed
## models; writes its table into docs/monitoring.md (also part of `make bench`).
drift-simulation: $(INSTALLED)
	$(BIN)/python -m benchmarks.drift_week

## Replay every alarm of the synthesized stack over simulated weeks (beta and 10x volume,
## healthy and with faults) as CloudWatch evaluates them; writes its tables into
## docs/monitoring.md (also part of `make bench`, after the drift simulation it reads).
alarm-replay: $(INSTALLED)
	$(BIN)/python -m benchmarks.alarm_replay

## Compare the model's training baseline with a file of requests (JSON lines of /predict
## bodies) or of exported aggregate lines: `make drift-report REQUESTS=requests.jsonl` or
## `make drift-report AGGREGATES=aggregates.jsonl`; prints each feature's PSI, writes $(PNG).
PNG ?= drift-report.png
drift-report: $(INSTALLED)
	$(BIN)/python -m model.drift_report --model-dir $(MODEL_DIR) --png $(PNG) \
		$(if $(REQUESTS),--requests $(REQUESTS)) $(if $(AGGREGATES),--aggregates $(AGGREGATES))

## Rewrite the image's hashed lock files after changing a pin in requirements/runtime*.txt.
lock: $(INSTALLED)
	$(BIN)/python requirements/lock.py

## Synthesize the stack into infra/cdk.out (no AWS account needed; set AWS_DEFAULT_REGION or
## AWS_REGION).
synth: $(INSTALLED) $(CDK_INSTALLED)
	$(BIN)/python -m model.image_check model
	$(CDK) synth --no-notices $(CONTEXT)

## Prepare the account and region for CDK deployments, once.
bootstrap: $(INSTALLED) $(CDK_INSTALLED)
	$(CDK) bootstrap

## Deploy the stack (needs AWS credentials, a bootstrapped account and a Docker engine).
deploy: $(INSTALLED) $(CDK_INSTALLED)
	$(BIN)/python -m model.image_check model
	$(CDK) deploy $(CONTEXT)

## Delete images no deployed stack uses any more, once unused for 14 days (a rollback's margin),
## from CDK's asset repository in this account and region. CDK asks before deleting.
gc-images: $(INSTALLED) $(CDK_INSTALLED)
	$(CDK) gc --unstable=gc --type=ecr --rollback-buffer-days=14 --created-buffer-days=1

## Check a deployed stage end to end (needs AWS credentials and SLEEP_ADVISOR_ID_TOKEN).
smoke: $(INSTALLED)
	$(BIN)/python infra/smoke.py --stage $(STAGE)

## Delete the stack (the Cognito user pool is retained).
destroy: $(INSTALLED) $(CDK_INSTALLED)
	$(CDK) destroy $(CONTEXT)
