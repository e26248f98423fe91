"""A team's training scripts: `python -m model.training.<script>` from the repository root.

Checked by ruff, and by mypy without its strict flags (pyproject.toml): a training script need
not be typed. Nothing here reaches the image; what a model's pickle refers to belongs in
model/components/.
"""
