"""Lint gate: the repository passes `ruff check` and `ruff format --check` (configuration in pyproject.toml).

ruff comes with the `test` extra. Without it the test fails (with ruff's "No module named ruff" in the message)
rather than skipping, so a missing linter cannot pass as a clean lint.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("args", [["check", "."], ["format", "--check", "."]], ids=["check", "format"])
def test_ruff_passes(args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, (
        f"`ruff {' '.join(args)}` failed (fix with `ruff check --fix` / `ruff format`):\n{done.stdout}{done.stderr}"
    )
