"""The layer rules (pyproject.toml, `[tool.importlinter]`): `lint-imports` passes on the repository, and fails, naming
the broken contract, on a copy of it with one deliberate violation per rule (so a contract that could never fail,
a wrong package name say, is caught too)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("cli", "worker", "service", "models", "contracts")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    # lint-imports analyses the packages importable from its working directory (the copy, not the installed tree).
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    env = {"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", code, "--no-cache"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip


def test_the_repository_keeps_every_contract() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("service/violation.py", "import torch", "The service (API, database, queue) never imports torch"),
        ("service/violation.py", "import models.features", "Layers"),
        ("service/violation.py", "import worker.jobs", "Layers"),
        ("models/violation.py", "from service import storage", "Layers"),
        ("models/violation.py", "import sqlalchemy", "The models import no database"),
        ("contracts/violation.py", "import torch", "Contracts stay torch-free"),
        ("service/crud/violation.py", "import service.api.deps", "No import cycles"),
    ],
)
def test_a_deliberate_violation_breaks_its_contract(tmp_path: Path, module: str, line: str, contract: str) -> None:
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / module).write_text(f"{line}\n")
    done = lint_imports(tmp_path)
    assert done.returncode != 0, done.stdout
    broken = [text for text in done.stdout.splitlines() if text.endswith("BROKEN")]
    assert any(contract in text for text in broken) or contract in done.stdout.split("Broken contracts")[-1], (
        done.stdout
    )
