"""A real Label Studio (from `.venv-labelstudio`, scripts/setup_labelstudio.sh) on 127.0.0.1 for the connector's tests.

Started headless on an OS-chosen port with its data in a temporary folder, its telemetry off (no request leaves the
machine), a legacy API token given on the command line, and stopped by its PID. `stop()` and `start()` again on the
same port and data folder simulate an outage (a restart on a migrated folder takes seconds; the first start runs its
migrations, 1–3 minutes on a loaded 2-core machine).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
from pathlib import Path

import httpx

from tests.e2e.server import free_port, wait_healthy
from tests.worker.procs import REPO

LABEL_STUDIO = REPO / ".venv-labelstudio" / "bin" / "label-studio"
START_TIMEOUT_S = 600.0


def label_studio_env(data_dir: Path) -> dict[str, str]:
    """Label Studio's environment for tests: its data under `data_dir`, no telemetry, legacy tokens on, and webhooks
    allowed to reach the loopback depthal server (USE_DEFAULT_BANNED_SUBNETS=false: see docs/labelstudio.md)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPTHAL_", "DJANGO_"))}
    env.update(
        LABEL_STUDIO_BASE_DATA_DIR=str(data_dir),
        LABEL_STUDIO_COLLECT_ANALYTICS="false",
        SENTRY_DSN="",
        FRONTEND_SENTRY_DSN="",
        LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
        USE_DEFAULT_BANNED_SUBNETS="false",
        ML_BLOCK_LOCAL_IP="false",
    )
    return env


class LabelStudioServer:
    """One Label Studio process; `url` and `token` (a legacy API token: `Authorization: Token <token>`)."""

    username = "lead@depthal.test"

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_hex(20)  # --user-token wants 40 hex digits
        self.password = secrets.token_urlsafe(12)
        self.log = data_dir / "label-studio.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> LabelStudioServer:
        if not LABEL_STUDIO.exists():
            raise RuntimeError(
                f"{LABEL_STUDIO} is missing: run `source scripts/setup_labelstudio.sh` (scripts/test.sh does)"
            )
        argv = [
            "nice",
            "-n",
            "10",
            str(LABEL_STUDIO),
            "start",
            "--no-browser",
            "--internal-host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--username",
            self.username,
            "--password",
            self.password,
            "--user-token",
            self.token,
            "--agree-fix-sqlite",
        ]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv,
                env=label_studio_env(self.data_dir),
                cwd=self.data_dir,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            assert self.proc is not None
            wait_healthy(self.url, self.proc, self.log, timeout=START_TIMEOUT_S)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM to its PID (its process group: the PID is its leader), SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def api(self) -> httpx.Client:
        """An httpx client on its REST API, authenticated with the token."""
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Token {self.token}"}, timeout=60)
