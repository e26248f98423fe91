"""The Chalice app as CloudFormation: Chalice's CDK integration generates the API and the
function from app.py (it imports app.py at synth time)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import CfnResource, IResolveContext, IStringProducer, Lazy
from aws_cdk import aws_iam as iam
from chalice.cdk import Chalice
from constructs import Construct

from chalicelib import contract
from chalicelib.config import setting_variable
from sleep_advisor_infra.config import REPO_ROOT, StageConfig

# Logical ids in the template Chalice generates.
FUNCTION_ID = "APIHandler"
REST_API_ID = "RestAPI"
INVOKE_PERMISSION_ID = "APIHandlerInvokePermission"
# The alias API Gateway invokes; every deploy publishes a version and shifts it (rollout.py).
LIVE_ALIAS = "live"
# What SAM names from the function's logical id (resolved by the SAM transform).
VERSION_REF = f"{FUNCTION_ID}.Version"

# The generated function's properties (SAM's names) that a Lambda version locks: a change to
# any of them, and only to them, must publish a new version. Lambda's own list is aws-cdk-lib's
# VERSION_LOCKED (aws-lambda/lib/function-hash.ts), in CloudFormation's names; SAM's Tracing,
# ImageUri and DeadLetterQueue become TracingConfig, Code and DeadLetterConfig. Not locked:
# ReservedConcurrentExecutions, Tags, CodeSigningConfigArn; nor SAM's own deployment settings
# (AutoPublishAlias, DeploymentPreference, ...), which are not the function's at all.
VERSION_LOCKED_PROPERTIES = frozenset({
    "Architectures", "CodeUri", "InlineCode", "ImageUri", "DeadLetterQueue", "Description",
    "Environment", "EphemeralStorage", "FileSystemConfigs", "FunctionName", "Handler",
    "ImageConfig", "KmsKeyArn", "Layers", "MemorySize", "PackageType", "RecursiveLoop", "Role",
    "Runtime", "RuntimeManagementConfig", "SnapStart", "Timeout", "Tracing", "VpcConfig",
    "LoggingConfig", "CapacityProviderConfig", "FunctionScalingConfig",
    "PublishToLatestPublished", "DurableConfig",
})


class ImageOnlyChalice(Chalice):
    """Chalice's construct without its deployment-package asset.

    Chalice zips the app and registers the zip as an S3 asset for the function's CodeUri; the
    function runs from the container image instead, so `cdk deploy` would upload that zip for
    nothing. This builds the same SAM template, minus the asset (CodeUri is deleted later).
    """

    def _generate_sam_template_with_assets(self, chalice_out_dir: str, package_id: str) -> str:
        package_dir = Path(self._sam_package_dir)
        template = json.loads((package_dir / "sam.json").read_text())
        if any(r["Type"] == "AWS::Serverless::LayerVersion" for r in template["Resources"].values()):
            raise ValueError("automatic_layer is not supported: the function runs from an image")
        output = Path(chalice_out_dir) / f"{package_id}.sam_with_assets.json"
        output.write_text(json.dumps(template, indent=2))
        return str(output)


class ChaliceApp(Construct):
    """The API and the function Chalice generates, configured for one stage.

    Attributes: `function` and `rest_api` (the generated SAM resources), `function_name`.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig,
                 role: iam.IRole) -> None:
        super().__init__(scope, construct_id)
        stage_config: dict[str, Any] = {
            "api_gateway_stage": contract.API_STAGE_NAME,
            "api_gateway_endpoint_type": "REGIONAL",
            "lambda_memory_size": config.memory_size_mb,
            "lambda_timeout": config.timeout_seconds,
            "xray": True,
            # Merged over .chalice/config.json's variables.
            "environment_variables": {
                contract.METRICS_NAMESPACE_VARIABLE: config.metrics_namespace,
                setting_variable("max_batch_instances"): str(config.max_batch_instances),
                setting_variable("max_body_bytes"): str(config.max_body_bytes),
                setting_variable("publish_training_details"):
                    str(config.publish_training_details).lower(),
            },
            # The role is created with only what the function needs; Chalice's own would allow
            # writing to every log group in the account.
            "manage_iam_role": False,
            "iam_role_arn": role.role_arn,
        }
        if config.reserved_concurrency is not None:
            stage_config["reserved_concurrency"] = config.reserved_concurrency
        self.chalice = ImageOnlyChalice(self, "Chalice", source_dir=str(REPO_ROOT),
                                        stage_config=stage_config)
        self.function: CfnResource = self.chalice.get_resource(FUNCTION_ID)
        self.rest_api: CfnResource = self.chalice.get_resource(REST_API_ID)
        self.function_name: str = self.function.ref
        self._sam_template = Path(self.chalice._sam_package_dir) / "sam.json"
        # The function's properties as the template will have them: Chalice's, then every
        # change made here (set_function_property and delete_function_property only).
        self._function_properties: dict[str, Any] = dict(
            json.loads(self._sam_template.read_text())["Resources"][FUNCTION_ID]["Properties"])

    def set_function_property(self, name: str, value: Any) -> None:
        self.function.add_property_override(name, value)
        self._function_properties[name] = value

    def delete_function_property(self, name: str) -> None:
        self.function.add_property_deletion_override(name)
        self._function_properties.pop(name, None)

    def version_fingerprint(self, length: int = 64) -> str:
        """A sha256 (hex, its first `length` digits) of the function's version-locked
        properties, resolved at synthesis: it changes exactly when a new Lambda version must be
        published (the image included)."""
        return Lazy.uncached_string(_Fingerprint(self._function_properties, length))

    def route_to(self, target_ref: str) -> None:
        """Send every route, and API Gateway's permission to invoke, to `target_ref` (the logical
        id of a resource SAM generates, such as the function's alias) instead of the
        unqualified function."""
        definition = json.loads(self._sam_template.read_text())["Resources"][REST_API_ID]
        for path, methods in definition["Properties"]["DefinitionBody"]["paths"].items():
            for method in methods:
                self.rest_api.add_property_override(
                    f"DefinitionBody.paths.{path}.{method}.x-amazon-apigateway-integration.uri",
                    {"Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/"
                                "2015-03-31/functions/${" + target_ref + "}/invocations"})
        permission: CfnResource = self.chalice.get_resource(INVOKE_PERMISSION_ID)
        permission.add_property_override("FunctionName", {"Ref": target_ref})


@jsii.implements(IStringProducer)
class _Fingerprint:
    def __init__(self, properties: dict[str, Any], length: int) -> None:
        self._properties, self._length = properties, length

    def produce(self, context: IResolveContext) -> str:
        locked = {name: value for name, value in self._properties.items()
                  if name in VERSION_LOCKED_PROPERTIES}
        resolved = context.resolve(locked)
        digest = hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest()
        return digest[:self._length]
