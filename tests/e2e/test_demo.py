"""`depthal demo` end to end at its smallest size ("ci": 14 sequences at 64×32, 2-iteration models): the real
embedded service (`depthal up`: SQLite, API, worker process) and annotator threads over HTTP; the labels-vs-mIoU table
and the PNG plot must come out with a finite mIoU; with `--serve` it prints the web app's URLs and tokens and keeps
the service up until Ctrl-C. Plus its clear errors (port in use, unwritable or foreign dir)."""

from __future__ import annotations

import json
import math
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from cli.commands.demo import batches, plot, reading
from cli.main import main
from tests.worker.procs import REPO


@pytest.mark.slow
def test_demo_prints_the_table_writes_the_plot_and_serves_the_web_app(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    argv = [sys.executable, "-m", "cli", "demo", "--size-preset", "ci", "--data-dir", str(data),
            "--annotators", "2", "--serve"]  # fmt: skip
    # as a background job of a non-interactive shell starts it (how CI may run): with SIGINT ignored, which a child
    # inherits; Ctrl-C below must stop it all the same
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))  # fmt: skip
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "serving until Ctrl-C" in line:
                break
        stdout = "".join(lines)
        assert "serving until Ctrl-C" in stdout, stdout[-3000:]
        urls = dict(re.findall(r"^\s+(dashboard|annotator)\s+(http://\S+)", stdout, flags=re.MULTILINE))
        tokens = dict(re.findall(r"(lead|annotator) token:\s+(\S+)", stdout))
        assert urls["dashboard"].endswith("/app/#/dashboard?project=1") and "#/annotate?project=1" in urls["annotator"]
        assert not any(t in urls["dashboard"] + urls["annotator"] for t in tokens.values())  # never in a URL
        base = urls["annotator"].split("/app/")[0]
        page = httpx.get(urls["annotator"].split("#")[0])
        assert page.status_code == 200 and "js/main.js" in page.text
        you = {"Authorization": f"Bearer {tokens['annotator']}"}
        assert httpx.get(f"{base}/users/me", headers=you).json()["role"] == "annotator"
        lease = httpx.post(f"{base}/projects/1/queue/next", headers=you)  # the last batch waits, pre-labeled
        assert lease.status_code == 200 and lease.json()["has_prelabel"], lease.text
        lead = {"Authorization": f"Bearer {tokens['lead']}"}
        assert httpx.get(f"{base}/projects/1/progress", headers=lead).status_code == 200
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, rest[-3000:]
    assert "| round | labels used | val mIoU (%) |" in stdout
    assert "\x1b" not in stdout and "\r" not in stdout  # a pipe gets plain lines, not redrawn bars
    rows = json.loads((data / "demo_results.json").read_text())
    assert [r["index"] for r in rows] == [0, 1] and [r["labels"] for r in rows] == [0, 2]
    assert rows[0]["miou"] is None  # the cold start trains nothing
    assert math.isfinite(rows[1]["miou"]) and 0.0 <= rows[1]["miou"] <= 1.0
    assert f"| 1 | 2 | {100 * rows[1]['miou']:.1f} |" in (data / "demo_results.md").read_text()
    plot = np.array(Image.open(data / "demo_miou.png"))
    assert plot.ndim == 3 and plot.shape[0] > 100 and plot.std() > 0  # a real picture, not an empty canvas
    assert "depthal stopped (SIGINT received)" in (data / "up.log").read_text()  # the service was stopped cleanly
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{base}/health", timeout=2)


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


def test_demo_doubles_the_labeled_set_and_refuses_a_schedule_beyond_the_pool(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert batches(4, 3) == [4, 4, 8, 16]  # trains on 4, 8, 16 labels; the last 16 stay queued
    assert batches(2, 1) == [2, 2]
    assert main(["demo", "--data-dir", str(tmp_path / "d"), "--batch", "8"]) == 2  # 8 + 8 + 16 + 32 > 48
    assert "select 8 + 8 + 16 + 32 = 64 images, more than the world's pool of 48" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_the_demo_says_whether_its_rise_and_each_step_are_above_the_noise() -> None:
    rows = [{"labels": 0, "miou": None}, {"labels": 4, "miou": 0.20}, {"labels": 16, "miou": 0.235}]
    text = reading(rows, seed=0, noise=1.0)
    assert "seed 0 trains every round" in text and "±1.0 points" in text
    assert "from 4 to 16 labels val mIoU moved +3.5 points: above the noise" in text
    assert text.count("labels val mIoU moved") == 1  # two points: no step lines
    flat = reading([*rows[:2], {"labels": 16, "miou": 0.21}], seed=0, noise=1.0)
    assert "moved +1.0 points: within the noise: not a measured change" in flat
    # three points: first to last, then each step, so a rise followed by a plateau or a drop reads as such
    curve = [*rows[:2], {"labels": 8, "miou": 0.239}, {"labels": 16, "miou": 0.235}]
    steps = reading(curve, seed=0, noise=0.5).splitlines()
    assert "from 4 to 16 labels val mIoU moved +3.5 points: above the noise" in steps
    assert "from 4 to 8 labels val mIoU moved +3.9 points: above the noise" in steps
    assert "from 8 to 16 labels val mIoU moved -0.4 points: within the noise: not a measured change" in steps
    drop = reading([*rows[:2], {"labels": 8, "miou": 0.239}, {"labels": 16, "miou": 0.22}], seed=0, noise=0.5)
    assert "from 8 to 16 labels val mIoU moved -1.9 points: a drop above the noise" in drop
    assert "no noise figure" in reading(rows, seed=0, noise=None)
    assert "random labels" not in text  # only a size with a measured random curve prints one
    with_random = reading(rows, seed=0, noise=1.0, random=((4, 20.5, 0.4), (16, 23.3, 0.8)))
    assert (
        "random labels at this size, 3 label sets (benchmarks/README.md, demo_noise): 20.5 ± 0.4 % at 4, "
        "23.3 ± 0.8 % at 16" in with_random
    )
    assert "benchmarks/README.md" in text  # where the strategies are compared


def test_the_plot_draws_randoms_measured_curve_beside_the_demos(tmp_path: Path) -> None:
    rows = [{"labels": 0, "miou": None}, {"labels": 4, "miou": 0.185}, {"labels": 16, "miou": 0.235}]
    plot(rows, tmp_path / "alone.png", "diversity+difficulty", 0.6)
    plot(rows, tmp_path / "both.png", "diversity+difficulty", 0.6, random=((4, 20.5, 0.4), (16, 23.3, 0.8)))
    alone, both = (np.array(Image.open(tmp_path / f"{n}.png").convert("RGB")).astype(int) for n in ("alone", "both"))

    def grey(img: np.ndarray) -> int:  # pixels of matplotlib's "grey" (128, 128, 128), antialiasing aside
        return int((abs(img - 128) < 3).all(axis=-1).sum())

    assert grey(both) > grey(alone) + 50  # the dashed grey line and its markers
