"""One stage deployed again and again: each deploy's template after the SAM transform, read as
CloudFormation would read the update from the deploy before it.

The oracle is Lambda's, not ours: a new AWS::Lambda::Version (a new logical id) exactly when a
property the version locks changed (aws-cdk-lib's VERSION_LOCKED table) or the image did;
otherwise Lambda refuses to publish ("A version for this Lambda function exists") or the alias
keeps an old configuration.
"""

from __future__ import annotations

import itertools
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness import REPO_ROOT
from harness.cdk import in_process_synth
from harness.checks import sam_transform
from harness.container_image import context_with_model
from harness.lambda_metrics import version_locked_properties
from harness.templates import alarms_by_name


@dataclass(frozen=True)
class Deploy:
    name: str
    context: dict[str, Any]
    tags: dict[str, str]
    another_model: bool = False


# Each deploy keeps what the ones before it changed, as a real stage does.
SEQUENCE = [
    Deploy("first deploy", {}, {}),
    Deploy("reserved concurrency set", {"reserved_concurrency": "5"}, {}),
    Deploy("a tag added", {"reserved_concurrency": "5"}, {"cost-centre": "sleep"}),
    Deploy("memory changed", {"reserved_concurrency": "5", "memory_size_mb": "2048"},
           {"cost-centre": "sleep"}),
    Deploy("environment changed",
           {"reserved_concurrency": "5", "memory_size_mb": "2048", "max_batch_instances": "50"},
           {"cost-centre": "sleep"}),
    Deploy("a new model",
           {"reserved_concurrency": "5", "memory_size_mb": "2048", "max_batch_instances": "50"},
           {"cost-centre": "sleep"}, another_model=True),
]


@dataclass(frozen=True)
class Deployed:
    deploy: Deploy
    version_id: str
    version_deletion_policy: str
    function: dict[str, Any]
    rollout_alarm_names: tuple[str, ...]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory, second_model_dir: Path) -> list[Deployed]:
    # The image context a data scientist's new model makes: the same files, another model.
    context = context_with_model(tmp_path_factory.mktemp("context"), second_model_dir)
    shutil.copy2(REPO_ROOT / ".dockerignore", context / ".dockerignore")
    results = []
    for deploy in SEQUENCE:
        synthesis = in_process_synth(
            tmp_path_factory.mktemp("synth"), tags=deploy.tags,
            image_context=context if deploy.another_model else REPO_ROOT, **deploy.context)
        template = sam_transform(synthesis.template)
        [version_id] = [k for k, r in template["Resources"].items()
                        if r["Type"] == "AWS::Lambda::Version"]
        alarms = alarms_by_name(template)
        results.append(Deployed(
            deploy, version_id, template["Resources"][version_id]["DeletionPolicy"],
            template["Resources"]["APIHandler"]["Properties"],
            tuple(alarms[n]["Properties"]["AlarmName"]
                  for n in ("rollout-errors", "rollout-low-probability"))))
    return results


# SAM writes AutoPublishCodeSha256 into the function's Description: left in, any change of the
# fingerprint would count as a locked change, and an over-eager fingerprint would pass.
_OURS = {"Description"}


def locked_changes(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {name for name in version_locked_properties() - _OURS
            if before.get(name) != after.get(name)}


def test_a_new_version_exactly_when_lambda_needs_one(deployed: list[Deployed]) -> None:
    for before, after in itertools.pairwise(deployed):
        changed = locked_changes(before.function, after.function)
        new_version = after.version_id != before.version_id
        assert new_version == bool(changed), (
            f"{after.deploy.name}: version {before.version_id} -> {after.version_id}, "
            f"version-locked changes {sorted(changed)}")


def test_the_sequence_covers_both_kinds_of_change(deployed: list[Deployed]) -> None:
    # What each step changed, so that the test above is not vacuous.
    changes = {after.deploy.name: sorted(locked_changes(before.function, after.function))
               for before, after in itertools.pairwise(deployed)}

    assert changes == {
        "reserved concurrency set": [],
        "a tag added": [],
        "memory changed": ["MemorySize"],
        "environment changed": ["Environment"],
        "a new model": ["Code"],
    }
    # The Description is SAM's copy of the fingerprint, and the version id's suffix its start.
    for step in deployed:
        assert step.version_id == "APIHandlerVersion" + step.function["Description"][:10]
    reserved, tagged = deployed[1].function, deployed[2].function
    assert reserved["ReservedConcurrentExecutions"] == 5
    assert {"Key": "cost-centre", "Value": "sleep"} in tagged["Tags"]


def test_each_version_gets_rollout_alarms_of_its_own(deployed: list[Deployed]) -> None:
    # A new alarm starts in INSUFFICIENT_DATA: a rollout never starts with one in ALARM.
    for before, after in itertools.pairwise(deployed):
        same_version = after.version_id == before.version_id
        assert (after.rollout_alarm_names == before.rollout_alarm_names) == same_version, (
            after.deploy.name)


def test_a_deploy_retried_after_a_rollback_can_publish_its_version(
    deployed: list[Deployed],
) -> None:
    # Lambda publishes a version only if $LATEST differs from the last version it published
    # (PublishVersion); CloudFormation's rollback of an update removes the Version it created
    # only if its DeletionPolicy is Delete (Retain keeps it in Lambda, published).
    previous, rolled_back = deployed[2], deployed[3]  # "memory changed" fails its canary
    published = [locked(previous.function), locked(rolled_back.function)]
    if rolled_back.version_deletion_policy == "Delete":
        published.pop()  # removed with the rollback

    retried = locked(rolled_back.function)  # the same commit again: the same $LATEST
    assert retried != published[-1], "Lambda would refuse: a version for this function exists"


def locked(function: dict[str, Any]) -> dict[str, Any]:
    # All of them, Description included: what Lambda itself compares.
    return {k: v for k, v in function.items() if k in version_locked_properties()}


def test_the_version_table(deployed: list[Deployed]) -> None:
    # Printed for the record (pytest -s): each deploy and the version it publishes.
    rows = [f"{d.deploy.name}: {d.version_id}" for d in deployed]
    print("\n" + "\n".join(rows))
    assert len({d.version_id for d in deployed}) == 4  # first, memory, environment, model
