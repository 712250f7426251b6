"""Fixtures of the Label Studio tests: one real Label Studio per test module (tests/labelstudio/server.py) and, per
test, a real depthal API served by uvicorn on a free loopback port (Label Studio delivers its webhooks there) on
the PostgreSQL test database."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from tests.conftest import Database
from tests.e2e.server import free_port
from tests.labelstudio.server import LabelStudioServer

ADMIN = {"Authorization": "Bearer test-admin-token"}  # tests/conftest.py::_configure


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudioServer]:
    server = LabelStudioServer(tmp_path_factory.mktemp("label-studio")).start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Depthal:
    """A depthal API over HTTP, and a lead's token."""

    url: str
    http: httpx.Client
    lead: dict[str, str]

    def link(self, project_id: int, label_studio: LabelStudioServer, **extra: Any) -> httpx.Response:
        body = {"url": label_studio.url, "token": label_studio.token, "public_url": self.url} | extra
        return self.http.post(f"/projects/{project_id}/labelstudio/link", json=body, headers=self.lead)

    def sync(self, project_id: int) -> httpx.Response:
        return self.http.post(f"/projects/{project_id}/labelstudio/sync", headers=self.lead)


@pytest.fixture
def depthal(request: pytest.FixtureRequest) -> Iterator[Depthal]:
    """PostgreSQL by default; `@pytest.mark.parametrize("depthal", ["sqlite", "postgres"], indirect=True)` for both."""
    from service.main import create_app

    database: Database = request.getfixturevalue(f"{getattr(request, 'param', 'postgres')}_database")
    assert database.backend in ("sqlite", "postgres")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "depthal's uvicorn did not start"
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=120) as http:
            res = http.post("/users", json={"name": "lead", "role": "lead"}, headers=ADMIN)
            assert res.status_code == 201, res.text
            yield Depthal(url, http, {"Authorization": f"Bearer {res.json()['token']}"})
    finally:
        server.should_exit = True
        thread.join(30)
