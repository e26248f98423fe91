"""The cloud assembly the real CDK CLI writes: what `cdk deploy` uploads and builds."""

from __future__ import annotations

import json
import subprocess

from harness import REPO_ROOT
from harness.cdk import INFRA_DIR, STACK_NAME, Synthesis, offline_environment


def test_synthesis_ran_the_rule_packs(cli_synthesis: Synthesis) -> None:
    report = cli_synthesis.assembly_dir / "validation-report.json"

    assert report.is_file()
    assert "Synthesis finished with errors" not in cli_synthesis.output


def test_function_is_the_container_image_asset(cli_synthesis: Synthesis) -> None:
    function = cli_synthesis.template["Resources"]["APIHandler"]["Properties"]
    assets = json.loads((cli_synthesis.assembly_dir / f"{STACK_NAME}.assets.json").read_text())
    [(image_hash, image)] = assets["dockerImages"].items()

    assert function["PackageType"] == "Image"
    assert image_hash in json.dumps(function["ImageUri"])
    assert image["source"]["directory"].startswith(f"asset.{image_hash}")
    assert (cli_synthesis.assembly_dir / image["source"]["directory"] / "Dockerfile").is_file()
    assert image["source"]["platform"] == "linux/amd64"
    for zip_property in ("CodeUri", "Handler", "Runtime", "Layers"):
        assert zip_property not in function


def test_image_context_holds_only_what_the_dockerfile_copies(cli_synthesis: Synthesis) -> None:
    assets = json.loads((cli_synthesis.assembly_dir / f"{STACK_NAME}.assets.json").read_text())
    [image] = assets["dockerImages"].values()
    context = cli_synthesis.assembly_dir / image["source"]["directory"]

    files = {str(p.relative_to(context)) for p in context.rglob("*") if p.is_file()}

    assert {"Dockerfile", "app.py", "model/model.joblib", "model/metadata.json", "model/golden.json",
            "model/baseline.json",
            "requirements/runtime.lock", "requirements/install-runtime.sh"} <= files
    assert not [f for f in files if f.startswith((".venv", "infra", "tests", "model/train"))]


def test_deploy_uploads_no_unused_chalice_zip(cli_synthesis: Synthesis) -> None:
    # The function runs from the image: besides the stack's own templates, the one file asset
    # is the hook's failure reporter (a zip function that must work when the image does not).
    assets = json.loads((cli_synthesis.assembly_dir / f"{STACK_NAME}.assets.json").read_text())
    by_packaging: dict[str, list[str]] = {}
    for asset in assets["files"].values():
        by_packaging.setdefault(asset["source"].get("packaging", "file"), []).append(
            asset["source"]["path"])

    assert set(by_packaging) == {"file", "zip"}
    assert all(path.endswith(".json") for path in by_packaging["file"]), by_packaging
    [reporter] = by_packaging["zip"]
    assert sorted(p.name for p in (cli_synthesis.assembly_dir / reporter).iterdir()) == ["index.py"]
    assert not list(cli_synthesis.assembly_dir.glob("asset.*.zip"))


def test_the_image_clean_up_target_uses_flags_the_pinned_cli_has() -> None:
    # `make gc-images` runs against a real account only; its flags are checked here, offline.
    makefile = (REPO_ROOT / "Makefile").read_text()
    [recipe] = [line for line in makefile.splitlines() if "$(CDK) gc " in line]
    flags = {word.split("=")[0] for word in recipe.split() if word.startswith("--")}
    result = subprocess.run(
        [str(INFRA_DIR / "node_modules" / ".bin" / "cdk"), "gc", "--help"],
        cwd=INFRA_DIR, env=offline_environment(), capture_output=True, text=True, timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert flags >= {"--type", "--rollback-buffer-days"}
    assert all(flag in result.stdout for flag in flags), flags
