"""benchmarks/gpu_suite.sh end to end at toy size on this machine's device (CPU in CI): every step writes its table,
a second call resumes (skips what is done), a spent budget starts nothing, and without CUDA the full size refuses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import REPO

SUITE = REPO / "benchmarks" / "gpu_suite.sh"
STEPS = ("cuda_tests", "depth_train", "seg_train", "selection", "ablation")


def _suite(*args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"PYTHON": sys.executable}
    return subprocess.run(["bash", str(SUITE), *args], capture_output=True, text=True, cwd=REPO, env=env, timeout=900)


@pytest.mark.slow
def test_toy_suite_runs_every_step_then_resumes(tmp_path: Path) -> None:
    out = tmp_path / "gpu"
    first = _suite("--toy", "--out", str(out))
    assert first.returncode == 0, first.stdout + first.stderr
    for step in STEPS:
        assert f"| {step} | ok |" in first.stdout
        table = (out / f"{step}.md").read_text()
        assert table.strip(), step
    assert "farthest_point_selection" in (out / "selection.md").read_text()
    assert "plain" in (out / "depth_train.md").read_text() and "plain fp32" in (out / "seg_train.md").read_text()
    assert "| + multi-task |" in (out / "ablation.md").read_text()

    (out / "selection.md").unlink()  # as if the loan ended during the selection step
    again = _suite("--toy", "--out", str(out))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "| selection | ok |" in again.stdout
    assert all(f"| {s} | done earlier |" in again.stdout for s in STEPS if s != "selection")


def test_spent_budget_starts_nothing_and_bad_arguments_are_named(tmp_path: Path) -> None:
    spent = _suite("--toy", "--out", str(tmp_path), "--budget", "0")
    assert spent.returncode == 1 and spent.stdout.count("not started: budget spent") == len(STEPS)
    bad = _suite("--fast")
    assert bad.returncode == 2 and "unknown argument '--fast'" in bad.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_full_size_refuses_without_cuda(tmp_path: Path) -> None:
    res = _suite("--out", str(tmp_path))
    assert res.returncode == 2 and "no CUDA device here" in res.stderr
