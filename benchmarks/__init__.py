"""Reproducible measurements. Each module runs from the repository root as `python -m benchmarks.<name>` and prints a
markdown table; benchmarks/README.md has the current figures beside their targets."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def module_command(module: str, *args: str) -> list[str]:
    """argv that runs `benchmarks.<module>` in a child process; start it with `cwd=REPO` so that the child imports
    this checkout whatever the parent's working directory (give it absolute paths)."""
    return [sys.executable, "-m", f"benchmarks.{module}", *args]
