"""The stack, synthesized once by the real CDK CLI, and in-process for context variants."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from sleep_advisor_infra.config import StageConfig
from sleep_advisor_infra.stack import SleepAdvisorStack

from tests.infra.template_checks import ACCOUNT, REGION

INFRA_DIR = Path(__file__).resolve().parents[2] / "infra"
STACK_NAME = "SleepAdvisor-dev"


@dataclass(frozen=True)
class Synthesis:
    template: dict[str, Any]
    assembly_dir: Path
    seconds: float
    output: str


def _offline_environment() -> dict[str, str]:
    return {
        **os.environ,
        # `python app.py` in cdk.json must be this venv's interpreter.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "1",
        # Any attempt to reach the network fails fast instead of passing unnoticed.
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
    }


def cli_synth(assembly: Path, **context: str) -> Synthesis:
    """`cdk synth` by the pinned CLI, as a developer runs it (rule packs included).

    Proxies point at a closed loopback port, so a synth that needed the network would fail
    here instead of quietly reaching out.
    """
    flags = [arg for key, value in context.items() for arg in ("-c", f"{key}={value}")]
    started = time.monotonic()
    result = subprocess.run(
        [str(INFRA_DIR / "node_modules" / ".bin" / "cdk"), "synth", "--quiet", "--no-notices",
         "--output", str(assembly), *flags],
        cwd=INFRA_DIR, env=_offline_environment(), capture_output=True, text=True, timeout=600,
    )
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    template = json.loads((assembly / f"{STACK_NAME}.template.json").read_text())
    return Synthesis(template, assembly, seconds, result.stdout + result.stderr)


@pytest.fixture(scope="session")
def cli_synthesis(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    """The default stage: no Slack ids, no e-mail."""
    return cli_synth(tmp_path_factory.mktemp("cdk.out"))


SLACK_CONTEXT = {
    "slack_workspace_id": "T0123ABCD", "slack_channel_id": "C0456EFGH",
    "alarm_email": "oncall@example.com",
}


@pytest.fixture(scope="session")
def alerting_synthesis(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    """The stage with Slack and e-mail alerting configured."""
    return cli_synth(tmp_path_factory.mktemp("cdk.out"), **SLACK_CONTEXT)


@pytest.fixture(scope="session")
def template(cli_synthesis: Synthesis) -> Template:
    return Template.from_json(cli_synthesis.template)


DEFAULT_CONTEXT: dict[str, Any] = json.loads((INFRA_DIR / "cdk.json").read_text())["context"]


@pytest.fixture
def synthesize(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Template]:
    """Synthesize the stack in-process with context overrides."""

    def run(**overrides: Any) -> Template:
        monkeypatch.chdir(tmp_path)  # Chalice packages into ./chalice.out
        monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
        app = cdk.App(outdir=str(tmp_path / "cdk.out"), context={**DEFAULT_CONTEXT, **overrides})
        config = StageConfig.from_context(app.node)
        stack = SleepAdvisorStack(
            app, config.stack_id, config=config,
            env=cdk.Environment(account=ACCOUNT, region=REGION),
        )
        return Template.from_stack(stack)

    return run
