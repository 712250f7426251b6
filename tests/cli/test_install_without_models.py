"""`pip install depthal` without the `models` extra: a fresh virtual environment gets no torch, and the API's commands
work in it (`depthal db upgrade`, `depthal serve`, the API answering); the model commands say which extra they need."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import Server, free_port

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "service", "worker", "models", "contracts", "cli", "migrations")

pytestmark = pytest.mark.slow


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False, **kwargs)  # type: ignore


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with depthal built from a copy of this checkout (a wheel, not an editable install)."""
    base = tmp_path_factory.mktemp("install")
    source = base / "src"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, source / name)
    env_dir = base / "venv"
    done = _run([sys.executable, "-m", "venv", str(env_dir)])
    assert done.returncode == 0, done.stderr
    done = _run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet", str(source)])
    assert done.returncode == 0, done.stdout + done.stderr
    return env_dir


def test_no_torch_and_the_api_commands_work(venv: Path, tmp_path: Path) -> None:
    python, depthal = venv / "bin" / "python", venv / "bin" / "depthal"
    missing = _run([str(python), "-c", "import torch"])
    assert missing.returncode != 0 and "No module named 'torch'" in missing.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPTHAL_", "PYTHON"))}
    env.update(DEPTHAL_DATA_DIR=str(tmp_path / "data"), DEPTHAL_ADMIN_TOKEN="install-test-admin-token")
    other = tmp_path / "elsewhere"  # not the checkout: only the installed package can be imported
    other.mkdir()

    upgraded = _run([str(depthal), "db", "upgrade"], env=env, cwd=other)
    assert upgraded.returncode == 0, upgraded.stderr
    port = free_port()
    with Server([str(depthal), "serve", "--port", str(port)], env, tmp_path / "serve.log", port) as api:
        auth = {"Authorization": "Bearer install-test-admin-token"}
        strategies = httpx.get(f"{api.base}/strategies", headers=auth, timeout=10)
        assert strategies.status_code == 200 and strategies.json()["count"] == 5
        made = httpx.post(f"{api.base}/projects", json={"name": "p", "label_budget": 3}, headers=auth, timeout=10)
        assert made.status_code == 201 and made.json()["settings"]["preset"] == "small"

    refused = _run([str(depthal), "worker"], env=env, cwd=other)
    assert refused.returncode == 2 and "pip install 'depthal[models]'" in refused.stderr
