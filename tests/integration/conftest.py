"""The stack synthesized by the real CDK CLI, as a developer runs `make synth`."""

from __future__ import annotations

import pytest

from harness.cdk import SLACK_CONTEXT, Synthesis, cli_synth


@pytest.fixture(scope="session")
def cli_synthesis(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    """The default stage: no Slack ids, no e-mail."""
    return cli_synth(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def alerting_cli_synthesis(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    """The stage with Slack and e-mail alerting configured."""
    return cli_synth(tmp_path_factory.mktemp("cdk.out"), **SLACK_CONTEXT)
