"""`depthal demo` end to end at its smallest size ("ci": 14 sequences at 64×32, 2-iteration models): the real
embedded service (`depthal up`: SQLite, API, worker process) and annotator threads over HTTP; the labels-vs-mIoU table
and the PNG plot must come out with a finite mIoU. Plus its clear errors (port in use, unwritable or foreign dir)."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cli.main import main
from tests.worker.procs import REPO


@pytest.mark.slow
def test_demo_prints_the_table_and_writes_the_plot(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "cli", "demo", "--size-preset", "ci", "--data-dir", str(data), "--annotators", "2"],
        cwd=REPO, capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "| round | labels used | val mIoU (%) |" in done.stdout
    rows = json.loads((data / "demo_results.json").read_text())
    assert [r["index"] for r in rows] == [0, 1] and [r["labels"] for r in rows] == [0, 2]
    assert rows[0]["miou"] is None  # the cold start trains nothing
    assert math.isfinite(rows[1]["miou"]) and 0.0 <= rows[1]["miou"] <= 1.0
    assert f"| 1 | 2 | {100 * rows[1]['miou']:.1f} |" in (data / "demo_results.md").read_text()
    plot = np.array(Image.open(data / "demo_miou.png"))
    assert plot.ndim == 3 and plot.shape[0] > 100 and plot.std() > 0  # a real picture, not an empty canvas
    assert "depthal stopped (SIGINT received)" in (data / "up.log").read_text()  # the service was stopped cleanly


def test_demo_refuses_a_port_in_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["demo", "--data-dir", str(tmp_path / "d"), "--port", str(port)])
    assert code == 2 and f"port {port} on 127.0.0.1 is already in use" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()  # nothing started, nothing written


def test_demo_refuses_unwritable_or_foreign_data_dirs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["demo", "--data-dir", str(blocker / "sub")]) == 2
    assert "is not writable" in capsys.readouterr().err
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    assert main(["demo", "--data-dir", str(foreign)]) == 2
    assert "is not empty and was not made by `depthal demo`" in capsys.readouterr().err
    assert (foreign / "thesis.tex").read_text() == "precious"
