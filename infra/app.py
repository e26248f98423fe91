"""CDK entry point: `cdk synth` / `cdk deploy` run this from infra/."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Chalice's packaging creates a botocore session, which needs a region even though synthesis
# calls no AWS API: say so in one line, not a botocore traceback.
REGION_VARIABLES = ("AWS_DEFAULT_REGION", "AWS_REGION", "CDK_DEFAULT_REGION")
_region = next((os.environ[name] for name in REGION_VARIABLES if os.environ.get(name)), None)
if _region is None:
    sys.exit("cdk synth needs a region (no AWS account): export AWS_DEFAULT_REGION=eu-central-1 "
             "(or AWS_REGION), then run it again")
os.environ.setdefault("AWS_DEFAULT_REGION", _region)

import aws_cdk as cdk  # noqa: E402 - after the region check: jsii takes seconds to start

# The stack reads the model's metadata and the service's limits from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sleep_advisor_infra.config import StageConfig  # noqa: E402 - after the region check
from sleep_advisor_infra.nag import attach_rule_packs  # noqa: E402
from sleep_advisor_infra.stack import SleepAdvisorStack  # noqa: E402

# CDK's built-in CloudFormation validation reads the template before the SAM transform, where
# SAM's own references (APIHandler.Version, APIHandler.Alias, the deployment group) do not
# exist yet. CloudFormation validates after the transform, and so does the test suite
# (cfn-lint on aws-sam-translator's output, tests/integration/test_template_checks.py).
app = cdk.App(builtin_cloud_formation_validation=False)
attach_rule_packs(app)
config = StageConfig.from_context(app.node)
SleepAdvisorStack(
    app, config.stack_id, config=config,
    # Account and region come from the CLI's credentials; nothing account-specific in code.
    env=cdk.Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION"),
    ),
    description="Sleep Advisor: scikit-learn inference on Lambda behind API Gateway",
)
app.synth()
