"""The README's layout table describes the tree as it is."""

from __future__ import annotations

import re
import subprocess

from sleep_advisor_infra.config import StageConfig

from harness import REPO_ROOT


def _layout_rows() -> dict[str, str]:
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"\| (`[^|]+`) \| (.+) \|$", line)
        if match:
            for path in re.findall(r"`([^`]+)`", match.group(1)):
                rows[path.rstrip("/")] = match.group(2)
    return rows


def test_every_top_level_entry_is_described_and_every_described_path_exists() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    top_level = {path.split("/")[0] for path in tracked} - {
        "README.md", "Makefile", "pyproject.toml", ".gitignore", ".python-version", ".ci"}
    rows = _layout_rows()

    described = {path.split("/")[0] for path in rows}
    assert top_level <= described, top_level - described
    assert all((REPO_ROOT / path).exists() for path in rows), [
        p for p in rows if not (REPO_ROOT / p).exists()]


def test_every_module_the_layout_names_exists() -> None:
    rows = _layout_rows()
    for folder in ("chalicelib", "infra", "harness"):
        named = re.findall(r"`([a-z_]+\.py)`", rows[folder])
        assert named, folder
        for module in named:
            found = list((REPO_ROOT / folder).rglob(module))
            assert found, f"{folder}: {module}"


def test_every_file_the_documentation_names_exists() -> None:
    documents = [REPO_ROOT / "README.md", REPO_ROOT / "model" / "README.md",
                 *(REPO_ROOT / "docs").glob("*.md")]
    missing = []
    for document in documents:
        for path in re.findall(r"\b((?:tests|harness|infra|chalicelib|benchmarks|requirements)"
                               r"/[\w./-]+\.(?:py|sh|txt|lock))\b", document.read_text()):
            if not (REPO_ROOT / path).exists():
                missing.append(f"{document.name}: {path}")
    assert missing == []


def test_the_context_table_lists_every_stage_setting_with_its_default() -> None:
    # One place for each setting: StageConfig; the README shows it as it is.
    readme = (REPO_ROOT / "README.md").read_text()

    assert StageConfig.readme_table() in readme, (
        "update README.md's context table to:\n" + StageConfig.readme_table())


def test_the_rollback_by_hand_names_the_image_clean_ups_buffer() -> None:
    # An older commit's image stays in ECR for make gc-images' rollback buffer, and no longer.
    [days] = re.findall(r"--rollback-buffer-days=(\d+)", (REPO_ROOT / "Makefile").read_text())
    readme = " ".join((REPO_ROOT / "README.md").read_text().split())

    assert f"it deletes an image {days} days after no deployed stack uses it" in readme
    assert "`ImageDeleted`" in readme and "update-alias" not in readme
