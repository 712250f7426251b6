"""API fixtures: a TestClient on the `database` backend (sqlite and postgres), users of each role, helpers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Database
from tests.factories import rgb_image

ADMIN_TOKEN = "test-admin-token"  # set by tests/conftest.py::_configure


@dataclass
class Api:
    """A TestClient plus a token per role."""

    client: TestClient
    db: Database
    admin: dict[str, str]
    lead: dict[str, str]
    annotator: dict[str, str]
    annotator2: dict[str, str]

    def user(self, name: str, role: str) -> dict[str, str]:
        res = self.client.post("/users", json={"name": name, "role": role}, headers=self.admin)
        assert res.status_code == 201, res.text
        return {"Authorization": f"Bearer {res.json()['token']}"}

    def project(self, pool: int = 0, **overrides: Any) -> dict[str, Any]:
        """A project made by the lead (its lead member), with both annotators as its annotators, and `pool`
        unlabeled pool images uploaded (a round needs some)."""
        body = {"name": "p", "label_budget": 10, "round_schedule": [2, 3]} | overrides
        res = self.client.post("/projects", json=body, headers=self.lead)
        assert res.status_code == 201, res.text
        for headers in (self.annotator, self.annotator2):
            self.member(res.json()["id"], headers, "annotator")
        for k in range(pool):
            self.upload(res.json()["id"], rgb_image(1000 + k), queue=False)
        return res.json()

    def member(self, project_id: int, headers: dict[str, str], role: str) -> None:
        """Make the holder of `headers` a member of the project with `role` (the admin's API)."""
        user_id = self.client.get("/users/me", headers=headers).json()["id"]
        res = self.client.put(f"/projects/{project_id}/members/{user_id}", json={"role": role}, headers=self.admin)
        assert res.status_code == 200, res.text

    def upload(self, project_id: int, png: bytes, *, queue: bool = True, **files: bytes) -> dict[str, Any]:
        parts = {"file": ("img.png", png, "image/png")} | {k: (f"{k}.png", v, "image/png") for k, v in files.items()}
        res = self.client.post(
            f"/projects/{project_id}/images", files=parts, data={"queue": str(queue).lower()}, headers=self.lead
        )
        assert res.status_code == 201, res.text
        return res.json()

    def put_mask(self, image_id: int, png: bytes, headers: dict[str, str], fmt: str | None = None) -> Any:
        params = {"format": fmt} if fmt else {}
        return self.client.put(
            f"/images/{image_id}/mask", files={"file": ("m.png", png, "image/png")}, params=params, headers=headers
        )


def running_round(api: Api, images: int, started_seconds_ago: float) -> tuple[int, int, datetime]:
    """A project (budget 10, batches of 2) with `images` pool images and round 0 requested over the API, then
    marked running since `started_seconds_ago` in the database (no worker involved): (project id, round id, now)."""
    from service.db.base import utcnow
    from service.db.session import session_scope
    from service.db.tables import Round

    pid = api.project(label_budget=10, round_schedule=[2])["id"]
    for i in range(images):
        api.upload(pid, rgb_image(i), queue=False)
    assert api.client.post(f"/projects/{pid}/rounds", json={}, headers=api.lead).status_code == 202
    now = utcnow()
    with session_scope() as session:
        round_ = session.query(Round).filter_by(project_id=pid).one()
        round_.status, round_.started_at = "running", now - timedelta(seconds=started_seconds_ago)
        return pid, round_.id, now


@pytest.fixture
def api(database: Database) -> Iterator[Api]:
    from service.main import create_app

    with TestClient(create_app()) as client:
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        api = Api(client, database, admin, {}, {}, {})
        api.lead = api.user("lead", "lead")
        api.annotator = api.user("ann", "annotator")
        api.annotator2 = api.user("ann2", "annotator")
        yield api


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """(kind, job id) of every task the API sent; the broker replaced by this recorder (the test runs the job)."""
    from service import task_queue

    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(task_queue, "enqueue", lambda kind, job_id: calls.append((str(kind), job_id)) or "task-id")
    return calls


@dataclass
class Broker:
    """The test Redis with a queue name of this test's own (so parallel runs never see each other's messages)."""

    redis: Any
    queue: str

    def messages(self) -> list[dict[str, Any]]:
        import json

        return [json.loads(raw)["headers"] for raw in self.redis.lrange(self.queue, 0, -1)]


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch, api: Api) -> Iterator[Broker]:
    import uuid

    import redis

    from service.config import get_settings
    from tests.conftest import REDIS_URL

    queue = f"test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("DEPTHAL_BROKER_URL", REDIS_URL)
    monkeypatch.setenv("DEPTHAL_GPU_QUEUE", queue)
    get_settings.cache_clear()
    client = redis.Redis.from_url(REDIS_URL)
    yield Broker(client, queue)
    client.delete(queue)
    client.close()
