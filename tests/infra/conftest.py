"""The stack synthesized in this process: once per context, shared by the template tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from harness.cdk import CONFIGURED_CONTEXT, Synthesis, in_process_synth
from harness.checks import sam_transform


@pytest.fixture(scope="session")
def synthesis(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    """The default stage: no Slack ids, no e-mail."""
    return in_process_synth(tmp_path_factory.mktemp("synth"))


@pytest.fixture(scope="session")
def configured_synthesis(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    """The stage with Slack and e-mail alerting, an existing user pool and tuned limits."""
    return in_process_synth(tmp_path_factory.mktemp("synth"), **CONFIGURED_CONTEXT)


@pytest.fixture(scope="session")
def beta_synthesis(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    """A small beta's stage: no dashboard, and every deploy shifted all at once."""
    return in_process_synth(tmp_path_factory.mktemp("synth"), dashboard=False,
                            deployment_preference="AllAtOnce")


@pytest.fixture(scope="session")
def template(synthesis: Synthesis) -> Template:
    return Template.from_json(synthesis.template, skip_cyclical_dependencies_check=True)


@pytest.fixture
def synthesize(tmp_path: Path) -> Callable[..., Template]:
    """Synthesize the stack in-process with context overrides."""

    def run(**overrides: Any) -> Template:
        return Template.from_json(in_process_synth(tmp_path, **overrides).template,
                                  skip_cyclical_dependencies_check=True)

    return run


@pytest.fixture(scope="session")
def deployed(synthesis: Synthesis) -> dict[str, Any]:
    """The template CloudFormation deploys: after SAM's transform."""
    return sam_transform(synthesis.template)
