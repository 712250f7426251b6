"""The README's "From your own video (three commands)", run as written against `depthal up` on the embedded
defaults: `depthal import` uploads a real H.264 file through uvicorn (streamed), the worker process decodes it, round
0 runs its depth stage on every stored triplet, and `depthal progress` shows the video and the finished round."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import free_port
from tests.factories import encode_video, synth_frames
from tests.worker.procs import REPO, wait_for

N_FRAMES = 20


def depthal(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", *args], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


@pytest.mark.slow
def test_a_project_from_a_video_in_three_commands(tmp_path: Path) -> None:
    video = encode_video(tmp_path / "drive.mp4", synth_frames(N_FRAMES))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPTHAL_")}
    env.update(PYTHONPATH=str(REPO), DEPTHAL_DATA_DIR=str(tmp_path / "data"), OMP_NUM_THREADS="1")
    log = tmp_path / "up.log"
    with log.open("wb") as out:  # 1. depthal up
        up = subprocess.Popen([sys.executable, "-m", "cli", "up", "--port", str(port)], env=env, cwd=REPO,
                              stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_for(lambda: "depthal is up" in log.read_text() or up.poll() is not None, 90, 0.2, "depthal up")
        assert up.poll() is None, log.read_text()[-3000:]
        cli_env = {**env, "DEPTHAL_TOKEN": "changethis", "DEPTHAL_URL": f"http://127.0.0.1:{port}"}
        # 2. depthal import (tiny models and images, so the round ends in seconds on a CPU)
        done = depthal("import", "--new-project", "dashcam", "--hfov", "100", "--round", "--pool-every", "4",
                       "--batch", "2", "--preset", "tiny", "--size", "32x64", "--interval", "0.5", str(video),
                       env=cli_env)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr + log.read_text()[-3000:]
        assert "project 1 'dashcam' created" in done.stdout and "drive.mp4: import job" in done.stdout
        assert f"succeeded: 1 sequence(s), {N_FRAMES} frames stored, 5 pool images" in done.stdout
        assert "round 0 started; follow it: depthal progress --project 1 --follow" in done.stdout
        # 3. depthal progress --follow, until round 0 has ended
        report = depthal("progress", "--project", "1", "--follow", "--interval", "1", env=cli_env)
        assert report.returncode == 0, report.stdout + report.stderr + log.read_text()[-3000:]
        last = report.stdout.rsplit("project 1 ", 1)[1]
        assert f"video   1 sequences, {N_FRAMES} frames for depth, 5 pool images" in last
        assert "round 0  succeeded" in last and "2 queued" in last
        jobs = httpx.get(f"http://127.0.0.1:{port}/projects/1/jobs", headers={"Authorization": "Bearer changethis"})
        depth = next(j for j in jobs.json()["data"] if j["kind"] == "pretrain_depth")
        assert depth["result"]["triplets"] == N_FRAMES - 2 and depth["result"]["sequences"] == 1
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(60)
