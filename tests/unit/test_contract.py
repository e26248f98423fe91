"""Files that cannot import Python state facts of chalicelib/contract.py; they must agree."""

from __future__ import annotations

import ast
import json

from chalicelib import contract
from harness import REPO_ROOT
from harness.container_image import read_dockerfile


def test_chalice_config_names_the_app_as_the_contract_does() -> None:
    config = json.loads((REPO_ROOT / ".chalice" / "config.json").read_text())

    assert config["app_name"] == contract.SERVICE_NAME
    # Facts the contract owns are not restated there.
    variables = config["environment_variables"]
    assert not {"POWERTOOLS_SERVICE_NAME", contract.METRICS_NAMESPACE_VARIABLE,
                *contract.SINGLE_THREADED_ENVIRONMENT} & set(variables)


def test_the_image_runs_single_threaded_as_the_contract_says() -> None:
    environment = read_dockerfile().declared_environment

    assert {k: environment.get(k) for k in contract.SINGLE_THREADED_ENVIRONMENT} == (
        contract.SINGLE_THREADED_ENVIRONMENT)


def test_the_contract_imports_nothing_but_the_standard_library() -> None:
    # Anything imports it (the hook, infra/, the tests) without importing anything else.
    tree = ast.parse((REPO_ROOT / "chalicelib" / "contract.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}

    assert imported <= {"__future__", "hashlib", "pathlib", "typing"}


def test_infrastructure_reads_no_implementation_module() -> None:
    # The dashboard and alarms name metrics through the contract, not the code that writes them;
    # the stack loads the model it ships only as the function does, through chalicelib.model_package.
    for module in (REPO_ROOT / "infra" / "sleep_advisor_infra").glob("*.py"):
        tree = ast.parse(module.read_text())
        imported = {node.module for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and node.module}
        assert not imported & {"chalicelib.observability", "chalicelib.advisor"}, module.name


def test_observability_wraps_the_model_call_without_importing_the_domain() -> None:
    # A request walks one way: app.py calls the model, observability wraps the call and
    # knows only the contract's names (and Powertools).
    tree = ast.parse((REPO_ROOT / "chalicelib" / "observability.py").read_text())
    imported = {node.module for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {f"{node.module}.{alias.name}" for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module == "chalicelib"
                 for alias in node.names}

    assert {m for m in imported if m.startswith("chalicelib")} == {
        "chalicelib", "chalicelib.contract", "chalicelib.log_stream"}
