"""Driving the browser app for the tests in tests/web/ and benchmarks/web_editor.py: Debian's Chromium under
Playwright (never a downloaded browser), a real `depthal serve` on its own SQLite database, seeding over HTTP, and
screenshots that are checked not to be blank.

Chromium: `/usr/bin/chromium` (Debian's `chromium` package; scripts/test.sh installs it), or `DEPTHAL_CHROMIUM`.
Screenshots go to the test's tmp dir, and also to `$DEPTHAL_WEB_SCREENSHOTS` (e.g. docs/images) when that is set.
"""

from __future__ import annotations

import io
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image as PILImage
from sqlalchemy import create_engine, text

from service import storage
from service.migrate import upgrade
from tests.e2e.compose import depthal_executable
from tests.e2e.server import Server, free_port
from tests.worker.procs import worker_env

CHROMIUM = os.environ.get("DEPTHAL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ADMIN_TOKEN = "web-admin-token"


def launch(playwright: Any) -> Any:
    """Chromium from the system (Debian's package); a missing browser is an error, not a skip."""
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).is_file():
        raise RuntimeError(f"no Chromium at {CHROMIUM}: `apt-get install chromium chromium-driver` (scripts/test.sh)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    PILImage.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def read_png(data: bytes) -> np.ndarray:
    return np.array(PILImage.open(io.BytesIO(data)))


@dataclass
class WebServer:
    """A running `depthal serve` (SQLite under data_dir) and its admin's HTTP client."""

    base: str
    data_dir: Path
    db_url: str

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {token}"}, timeout=60)

    def user(self, name: str, role: str) -> str:
        with self.client(ADMIN_TOKEN) as admin:
            response = admin.post("/users", json={"name": name, "role": role})
            assert response.status_code == 201, response.text
            return str(response.json()["token"])

    def member(self, project_id: int, token: str, role: str = "annotator") -> None:
        """Make the token's user a member of the project (the admin's API; issue 19's per-project roles)."""
        with self.client(token) as c, self.client(ADMIN_TOKEN) as admin:
            user_id = c.get("/users/me").json()["id"]
            res = admin.put(f"/projects/{project_id}/members/{user_id}", json={"role": role})
            assert res.status_code == 200, res.text

    def sql(self, statement: str, **params: Any) -> None:
        engine = create_engine(self.db_url)
        try:
            with engine.begin() as conn:
                conn.execute(text(statement), params)
        finally:
            engine.dispose()

    def set_prelabel(
        self, project_id: int, image_id: int, class_ids: np.ndarray, segments: np.ndarray | None, round_index: int = 1
    ) -> None:
        """Give an image a pre-label (and superpixel ids, (H, W) int, stored as R + 256·G) as a round would."""
        storage_dir = self.data_dir / "storage"
        rel = storage.prelabel_file(project_id, image_id, round_index)
        (storage_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (storage_dir / rel).write_bytes(png(class_ids.astype(np.uint8)))
        seg_rel = None
        if segments is not None:
            rgb = np.zeros((*segments.shape, 3), np.uint8)
            rgb[..., 0], rgb[..., 1] = segments % 256, segments // 256
            seg_rel = storage.segments_file(project_id, image_id, round_index)
            (storage_dir / seg_rel).write_bytes(png(rgb))
        self.sql("UPDATE image SET prelabel_path = :p, segments_path = :s WHERE id = :i", p=str(rel),
                 s=None if seg_rel is None else str(seg_rel), i=image_id)  # fmt: skip


@contextmanager
def serve(data_dir: Path, **settings: str) -> Iterator[WebServer]:
    """`depthal serve` on a fresh, migrated SQLite database under `data_dir` (settings: DEPTHAL_<NAME> values)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite:///{data_dir / 'depthal.sqlite'}"
    upgrade(db_url)
    env = worker_env(env="test", secret_key="web-test-secret", admin_token=ADMIN_TOKEN, data_dir=str(data_dir),
                     database_url=db_url, **settings)  # fmt: skip
    port = free_port()
    argv = [*depthal_executable(), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with Server(argv, env, data_dir / "api.log", port) as server:
        yield WebServer(server.base, data_dir, db_url)


def until(page: Any, expression: str, timeout: float = 30) -> Any:
    """Poll a JavaScript expression until it is truthy. (Playwright's wait_for_function evaluates its predicate with
    eval, which the app's Content-Security-Policy rightly forbids; page.evaluate goes through DevTools instead.)"""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {expression}")
        time.sleep(0.05)


def sign_in(page: Any, base: str, token: str, route: str = "annotate") -> None:
    """Open the app, paste the token, and wait for the view the role lands on (then go to `route`)."""
    page.goto(f"{base}/app/#/signin")
    page.evaluate("sessionStorage.clear()")
    page.reload()
    page.get_by_test_id("token-input").fill(token)
    page.get_by_test_id("signin-submit").click()
    until(page, "document.body.dataset.view && document.body.dataset.view !== 'signin'")
    if not page.evaluate("location.hash").startswith(f"#/{route}"):
        page.evaluate(f"location.hash = '#/{route}'")
    until(page, f"document.body.dataset.view === '{route}'")


def screenshot(page: Any, name: str, folder: Path) -> Path:
    """A PNG of the page in `folder` (and in $DEPTHAL_WEB_SCREENSHOTS when set), checked not to be blank."""
    path = folder / f"{name}.png"
    page.screenshot(path=str(path))
    pixels = np.asarray(PILImage.open(path).convert("L"), dtype=np.float32)
    assert pixels.std() > 10, f"screenshot {name} looks blank (std {pixels.std():.1f})"
    if out := os.environ.get("DEPTHAL_WEB_SCREENSHOTS"):
        Path(out).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(out) / path.name)
    return path
