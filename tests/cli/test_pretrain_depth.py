"""`depthal pretrain-depth`: trains, writes a resumable checkpoint, evaluates on truth; user errors are CLI errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cli.main import main
from models.checkpoint import load_checkpoint
from models.data.synth import generate_world


@pytest.mark.slow
def test_pretrain_depth_command_trains_and_evaluates(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    world = tmp_path / "w"
    generate_world(world, sequences=5, size=(32, 64), seed=1, val_fraction=0.4)  # 3 train, 2 val
    out = tmp_path / "depth.pt"
    argv = ["pretrain-depth", "--data", str(world), "--out", str(out), "--iters", "2", "--batch-size", "2",
            "--device", "cpu", "--workers", "0"]  # fmt: skip
    with caplog.at_level(logging.INFO):
        assert main(argv) == 0
    ckpt = load_checkpoint(out)
    assert ckpt["step"] == 2 and ckpt["config"]["layers"] == 18 and ckpt["config"]["weights"] is None
    text = caplog.text
    assert "best constant depth" in text and "(2 images, median scaling)" in text
    # a second call resumes the finished run instead of starting over
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert main(argv + ["--eval-split", ""]) == 0
    assert "resuming depth training at iteration 2/2" in caplog.text


@pytest.mark.parametrize(
    ("extra", "message"),
    [([], "no such folder"), (["--weights", "/nonexistent.pth"], "no such file")],
)
def test_pretrain_depth_user_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture, extra: list[str], message: str
) -> None:
    assert main(["pretrain-depth", "--data", str(tmp_path / "missing"), *extra]) == 2
    assert message in capsys.readouterr().err
