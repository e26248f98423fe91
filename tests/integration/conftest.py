"""The stack synthesized by the real CDK CLI, as a developer runs `make synth`."""

from __future__ import annotations

import pytest

from harness.cdk import CONFIGURED_CONTEXT, Synthesis, cli_synth, in_process_synth


@pytest.fixture(scope="session")
def cli_synthesis(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    """The default stage: no Slack ids, no e-mail."""
    return cli_synth(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def configured_synthesis(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    """The stage with every optional setting (Slack and e-mail alerting included), synthesized
    in-process: the checks after the SAM transform need its template, not the CLI again."""
    return in_process_synth(tmp_path_factory.mktemp("synth"), rule_packs=True,
                            **CONFIGURED_CONTEXT)


# The longest stage name StageConfig accepts: every name built from it must fit AWS's limits.
LONGEST_STAGE = "production-eu-west-1"


@pytest.fixture(scope="session")
def longest_stage_synthesis(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    return in_process_synth(tmp_path_factory.mktemp("synth"), rule_packs=True, stage=LONGEST_STAGE)
