"""`depthal up` on the embedded defaults (SQLite database and broker under a fresh data directory): the job path
through HTTP, then Ctrl-C stops the API and the worker cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.client import Client
from tests.e2e.server import free_port
from tests.worker.procs import REPO, wait_for


@pytest.mark.slow
def test_up_serves_jobs_and_stops_both_children_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPTHAL_")}
    env.update(PYTHONPATH=str(REPO), DEPTHAL_DATA_DIR=str(tmp_path / "data"))  # development defaults otherwise
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        up = subprocess.Popen([sys.executable, "-m", "cli", "up", "--port", str(port)], env=env, cwd=REPO,
                              stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_for(lambda: "depthal is up" in log.read_text() or up.poll() is not None, 90, 0.2, "depthal up")
        assert up.poll() is None, log.read_text()[-3000:]
        lead = Client(f"http://127.0.0.1:{port}", "changethis")  # the development admin token
        project = lead.create_project("embedded")
        lead.upload_images(project["id"], 4)
        job = lead.validate(project["id"])
        assert job["status"] == "succeeded" and job["result"]["thumbnails"] == 4, job
        round_, job = lead.random_round(project["id"], 2)
        assert round_["status"] == "succeeded" and len(job["result"]["queued"]) == 2
        lease, _ = lead.annotate_one(project["id"])
        progress = lead.ok(lead.http.get(f"/projects/{project['id']}/progress"))
        assert (progress["labeled"], progress["queued"]) == (1, 1)
        assert (tmp_path / "data" / "depthal.sqlite").exists() and (tmp_path / "data" / "broker.sqlite").exists()
    finally:
        up.send_signal(signal.SIGINT)  # what Ctrl-C delivers
        started = time.monotonic()
        code = up.wait(60)
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert "depthal stopped (SIGINT received): api stopped cleanly, worker stopped cleanly" in text
    assert time.monotonic() - started < 30
    with socket.socket() as sock:  # nothing listens on the API's port any more (TIME_WAIT is fine)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
