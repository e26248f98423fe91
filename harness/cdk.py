"""The stack synthesized two ways: by the pinned CDK CLI, as a developer runs it, and in this
process (seconds instead of tens of seconds) for template assertions and context variants."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import REPO_ROOT
from harness.samples import MODEL_DIR

INFRA_DIR = REPO_ROOT / "infra"
STACK_NAME = "SleepAdvisor-dev"
REGION = "eu-central-1"
ACCOUNT = "123456789012"
# cdk.json holds CDK's feature flags and the benchmarked memory size (StageConfig's default):
# what every synth reads.
CDK_JSON_CONTEXT: dict[str, Any] = json.loads((INFRA_DIR / "cdk.json").read_text())["context"]
SLACK_CONTEXT = {
    "slack_workspace_id": "T0123ABCD", "slack_channel_id": "C0456EFGH",
    "alarm_email": "oncall@example.com",
}

# A stage with every optional setting given, synthesized once for all the tests that read one.
CONFIGURED_CONTEXT: dict[str, Any] = {
    **SLACK_CONTEXT,
    "stage": "prod", "memory_size_mb": "2048", "throttle_rate_per_second": "5",
    "throttle_burst": "10", "reserved_concurrency": "20", "max_batch_instances": "25",
    "max_body_bytes": "131072", "publish_training_details": "false",
    "user_pool_arn": "arn:aws:cognito-idp:eu-central-1:123456789012:userpool/eu-central-1_Example1",
    "configure_api_gateway_logging_role": "false",
    "deployment_preference": "Linear10PercentEvery1Minute",
}


@dataclass(frozen=True)
class Synthesis:
    template: dict[str, Any]
    assembly_dir: Path
    seconds: float
    output: str  # the CLI's output, or in-process the stack's warnings


def offline_environment() -> dict[str, str]:
    return {
        **os.environ,
        # `python app.py` in cdk.json must be this venv's interpreter.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
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
        cwd=INFRA_DIR, env=offline_environment(), capture_output=True, text=True, timeout=600,
    )
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"cdk synth failed:\n{result.stdout}{result.stderr}")
    template = json.loads((assembly / f"{STACK_NAME}.template.json").read_text())
    return Synthesis(template, assembly, seconds, result.stdout + result.stderr)


@contextlib.contextmanager
def preserved_environment() -> Iterator[None]:
    """A region set for the block, and the environment exactly as found afterwards.

    Chalice's packaging needs a region (none is contacted), and it also copies the stage's
    environment variables into os.environ when it loads the app: leave the environment exactly
    as found, or a synthesized stage's limits would reach every later test and subprocess."""
    previous = dict(os.environ)
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(previous)


def in_process_synth(workdir: Path, *, model_dir: Path = MODEL_DIR, rule_packs: bool = False,
                     tags: dict[str, str] | None = None, image_context: Path = REPO_ROOT,
                     **context: Any) -> Synthesis:
    """The stack synthesized in this process with context overrides, for the model under test
    (model/ unless SLEEP_ADVISOR_MODEL_DIR moves the suite). With `rule_packs`, cdk-nag runs as
    in `cdk synth` and writes its acknowledgments into the template, for the checks after the
    SAM transform. `tags` are added to every resource; `image_context` is the image's build
    context.

    Chalice packages the app into ./chalice.out: here, inside `workdir`.
    """
    import aws_cdk as cdk
    from aws_cdk.assertions import Annotations, Match, Template
    from sleep_advisor_infra.config import StageConfig
    from sleep_advisor_infra.nag import attach_rule_packs
    from sleep_advisor_infra.stack import SleepAdvisorStack

    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    with contextlib.chdir(workdir), preserved_environment():
        # Construct stack traces, tree.json and the CDKMetadata resource only cost time here;
        # the CLI synthesis (cli_synth) keeps CDK's defaults.
        app = cdk.App(outdir=str(workdir / "cdk.out"), context={**CDK_JSON_CONTEXT, **context},
                      stack_traces=False, tree_metadata=False, analytics_reporting=False,
                      builtin_cloud_formation_validation=False)  # as infra/app.py
        if rule_packs:
            attach_rule_packs(app)
        config = StageConfig.from_context(app.node)
        stack = SleepAdvisorStack(app, config.stack_id, config=config, model_dir=model_dir,
                                  image_context=image_context,
                                  env=cdk.Environment(account=ACCOUNT, region=REGION))
        for key, value in (tags or {}).items():  # as an operator's cdk.Tags.of(app).add
            cdk.Tags.of(app).add(key, value)
        # Before the SAM transform, SAM's references (APIHandler.Version) read as references to
        # APIHandler itself, so CDK's check sees cycles that do not exist; cfn-lint checks for
        # cycles in the transformed template (tests/integration/test_template_checks.py).
        template = dict(Template.from_stack(stack, skip_cyclical_dependencies_check=True).to_json())
        warnings = Annotations.from_stack(stack).find_warning("*", Match.any_value())
    output = "\n".join(str(w.entry.data) for w in warnings)
    return Synthesis(template, workdir / "cdk.out", time.monotonic() - started, output)
