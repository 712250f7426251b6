"""A real uvicorn server (`depthal serve`) in a subprocess on 127.0.0.1, and helpers to seed it."""

from __future__ import annotations

import io
import socket
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image as PILImage
from sqlalchemy import update

from service.db.session import session_scope
from service.db.tables import Image, ImageState, Role
from tests.worker.procs import REPO


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(base: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not healthy after {timeout} s:\n{log.read_text()[-3000:]}")


class Server:
    """`argv` (a `depthal serve ...` command) with `env`, logging to `log`; `base` is its URL."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path, port: int) -> None:
        self.argv, self.env, self.log = argv, env, log
        self.base = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_healthy(self.base, self.proc, self.log)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def make_token(name: str, role: Role) -> str:
    from sqlalchemy.orm import Session

    from service.crud.users import create_user
    from service.db.session import get_engine

    with Session(get_engine()) as session:  # create_user commits itself
        _, token = create_user(session=session, name=name, role=role)
    return token


def queue_all(project_id: int) -> int:
    """Queue every pool image of a project in id order (what a round does), returns how many."""
    with session_scope() as session:
        return int(
            session.execute(
                update(Image)
                .where(Image.project_id == project_id, Image.role == "pool")
                .values(state=ImageState.QUEUED, queue_rank=Image.id)
            ).rowcount
        )


def mask_png(width: int, height: int, class_id: int) -> bytes:
    """A single-channel PNG of train ids, one class everywhere but an ignore (255) corner."""
    mask = np.full((height, width), class_id, np.uint8)
    mask[0, 0] = 255
    buf = io.BytesIO()
    PILImage.fromarray(mask, mode="L").save(buf, "PNG")
    return buf.getvalue()
