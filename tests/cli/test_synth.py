"""`depthal synth`: writes a world and its contact sheet; user errors are clear CLI errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cli.main import main


def test_synth_command_writes_world_and_preview(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "w"
    assert main(["synth", "--out", str(out), "--sequences", "3", "--size", "32x64", "--seed", "2", "--preview"]) == 0
    manifest = json.loads((out / "world.json").read_text())
    assert manifest["size"] == [32, 64] and len(manifest["sequences"]) == 3 and manifest["seed"] == 2
    sheet = np.asarray(Image.open(out / "preview.png"))
    # 3 rows (one per sequence: fewer than the 7 archetypes) of 5 tiles (t-1, t, t+1, labels, depth),
    # each 256 wide plus a 1-pixel frame
    assert sheet.shape == (3 * (128 + 2), 5 * (256 + 2), 3)
    assert "wrote 3 sequences" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--size", "8x8"], "too small"), (["--frames", "4"], "odd"), (["--sequences", "0"], "at least 1"),
     (["--val-fraction", "1.5"], "val-fraction"), (["--antialias", "2"], "antialias")],
)  # fmt: skip
def test_synth_command_user_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture, argv: list[str], message: str
) -> None:
    assert main(["synth", "--out", str(tmp_path), *argv]) == 2
    assert message in capsys.readouterr().err


def test_synth_command_rejects_malformed_size(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["synth", "--out", str(tmp_path), "--size", "big"])
    assert exc.value.code == 2
