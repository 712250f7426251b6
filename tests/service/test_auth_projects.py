"""Tokens, roles, users, projects."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select, text

from service.db.session import api_session, make_engine, session_scope
from service.db.tables import ApiToken, LabelClass, Project
from tests.factories import encode_png, id_mask, rgb_image
from tests.service.conftest import Api

# One representative route per router, each needing a token.
PROTECTED = [
    ("get", "/users/me"),
    ("get", "/projects"),
    ("post", "/projects"),
    ("get", "/projects/1/images"),
    ("post", "/projects/1/queue/next"),
    ("post", "/leases/1/heartbeat"),
    ("put", "/images/1/mask"),
    ("post", "/projects/1/rounds"),
    ("get", "/jobs/1"),
    ("get", "/projects/1/progress"),
    ("get", "/projects/1/export"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_missing_or_invalid_token_is_401(api: Api, method: str, path: str) -> None:
    res = getattr(api.client, method)(path)
    assert res.status_code == 401 and "missing API token" in res.json()["detail"]
    res = getattr(api.client, method)(path, headers={"Authorization": "Bearer dal_nope"})
    assert res.status_code == 401 and "invalid" in res.json()["detail"]


def test_tokens_are_stored_hashed_and_shown_once(api: Api) -> None:
    res = api.client.post("/users", json={"name": "carol", "role": "annotator"}, headers=api.admin)
    token = res.json()["token"]
    assert token.startswith("dal_") and len(token) > 30
    with session_scope() as s:
        hashes = s.scalars(select(ApiToken.token_hash)).all()
    assert token not in hashes and all(len(h) == 64 for h in hashes)
    me = api.client.get("/users/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["name"] == "carol" and me["role"] == "annotator" and "token" not in me
    listed = api.client.get("/users", headers=api.admin).json()
    assert listed["count"] == 5 and all("token" not in u for u in listed["data"])


def test_user_creation_rules(api: Api) -> None:
    res = api.client.post("/users", json={"name": "x", "role": "lead"}, headers=api.lead)
    assert res.status_code == 403 and "admin role" in res.json()["detail"]
    res = api.client.post("/users", json={"name": "lead", "role": "lead"}, headers=api.admin)
    assert res.status_code == 409 and "'lead' already exists" in res.json()["detail"]
    res = api.client.post("/users", json={"name": "y", "role": "king"}, headers=api.admin)
    assert res.status_code == 422
    assert api.client.get("/users", headers=api.annotator).status_code == 403


def test_create_project_defaults_to_cityscapes(api: Api) -> None:
    project = api.project(name="city", label_budget=100, round_schedule=[10, 20])
    assert project["label_budget"] == 100 and project["round_schedule"] == [10, 20]
    classes = project["classes"]
    assert len(classes) == 19 and classes[0] == {"train_id": 0, "name": "road", "color": [128, 64, 128]}
    assert classes[18] == {"train_id": 18, "name": "bicycle", "color": [119, 11, 32]}
    got = api.client.get(f"/projects/{project['id']}", headers=api.annotator).json()
    assert got == project
    listed = api.client.get("/projects", headers=api.annotator).json()
    assert listed["count"] == 1 and listed["data"][0]["name"] == "city"


def test_project_with_own_classes(api: Api) -> None:
    classes = [{"train_id": 0, "name": "bg", "color": [1, 2, 3]}, {"train_id": 1, "name": "fg", "color": [4, 5, 6]}]
    project = api.project(classes=classes)
    assert [c["name"] for c in project["classes"]] == ["bg", "fg"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "p", "label_budget": -1}, 422),
        ({"name": "p", "label_budget": 5, "round_schedule": [0]}, 422),
        ({"name": "p", "label_budget": 5, "classes": []}, 422),
        ({"name": "p", "label_budget": 5, "classes": [{"train_id": 255, "name": "a", "color": [0, 0, 0]}]}, 422),
        ({"name": "p", "label_budget": 5, "classes": [{"train_id": 0, "name": "a", "color": [0, 0, 300]}]}, 422),
        (
            {
                "name": "p",
                "label_budget": 5,
                "classes": [
                    {"train_id": 0, "name": "a", "color": [1, 1, 1]},
                    {"train_id": 0, "name": "b", "color": [2, 2, 2]},
                ],
            },
            422,
        ),
    ],
    ids=["budget", "schedule", "no-classes", "id-255", "colour", "dup-id"],
)
def test_bad_projects_refused(api: Api, body: dict, status: int) -> None:
    res = api.client.post("/projects", json=body, headers=api.lead)
    assert res.status_code == status
    with session_scope() as s:
        assert s.query(Project).count() == 0 and s.query(LabelClass).count() == 0


def test_project_rules(api: Api) -> None:
    api.project(name="dup")
    res = api.client.post("/projects", json={"name": "dup", "label_budget": 1}, headers=api.lead)
    assert res.status_code == 409 and "'dup' already exists" in res.json()["detail"]
    res = api.client.post("/projects", json={"name": "z", "label_budget": 1}, headers=api.annotator)
    assert res.status_code == 403 and "lead or admin" in res.json()["detail"]
    res = api.client.get("/projects/999", headers=api.annotator)
    assert res.status_code == 404 and "project 999 does not exist" in res.json()["detail"]


def test_bootstrap_admin_is_created_once(api: Api) -> None:
    from fastapi.testclient import TestClient

    from service.main import create_app

    with TestClient(create_app()) as again:  # a restart finds the admin and adds nothing
        assert again.get("/users/me", headers=api.admin).json()["role"] == "admin"
    with session_scope() as s:
        assert s.query(ApiToken).count() == 4  # admin + the three fixture users


LEAD_ONLY = [
    ("post", "/projects", {"json": {"name": "x", "label_budget": 1}}),
    ("post", "/projects/{pid}/images/import", {"json": {"path": "."}}),
    ("post", "/projects/{pid}/images", {"files": {"file": ("a.png", b"x")}}),
    ("post", "/projects/{pid}/rounds", {"json": {}}),
    ("post", "/projects/{pid}/jobs", {"json": {}}),
    ("post", "/rounds/1/cancel", {}),
    ("post", "/jobs/1/cancel", {}),
    ("get", "/projects/{pid}/export", {}),
    ("post", "/users", {"json": {"name": "x", "role": "annotator"}}),
    ("get", "/users", {}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), LEAD_ONLY, ids=[f"{m} {p}" for m, p, _ in LEAD_ONLY])
def test_annotator_refused_on_lead_routes(api: Api, method: str, path: str, kwargs: dict) -> None:
    from service.db.tables import Image, Job, Round, User

    pid = api.project()["id"]
    res = getattr(api.client, method)(path.format(pid=pid), headers=api.annotator, **kwargs)
    if path.startswith(("/rounds/", "/jobs/")):  # no round or job 1: its project (and role there) is unknown
        assert res.status_code == 404 and "does not exist" in res.json()["detail"]
    else:
        assert res.status_code == 403 and "role" in res.json()["detail"]
    with session_scope() as s:
        counts = [s.query(t).count() for t in (Project, Image, Round, Job, User)]
    assert counts == [1, 0, 0, 0, 4]


def test_every_request_gives_its_database_connection_back(api: Api) -> None:
    """Request sessions open and close on the event loop; one that a refusal left inside a transaction is closed in
    the thread pool (service/api/deps.py). Whichever way a request ends, no connection stays checked out and none
    sits idle in a transaction."""
    pid = api.project()["id"]
    image_id = api.upload(pid, rgb_image(0))["id"]
    other_id = api.upload(pid, rgb_image(1))["id"]
    assert api.client.post(f"/projects/{pid}/queue/next", headers=api.annotator).json()["image_id"] == image_id
    api.client.post(f"/projects/{pid}/queue/next", headers=api.annotator2)  # other_id, leased to annotator2
    statuses = [
        api.client.get("/users/me", headers=api.annotator).status_code,  # token from the cache
        api.client.get("/users/me", headers={"Authorization": "Bearer not-a-token"}).status_code,
        api.client.get(f"/projects/{pid}/images", headers=api.lead).status_code,  # a read that never commits
        api.put_mask(image_id, encode_png(np.zeros((3, 3), np.uint8)), api.annotator).status_code,  # wrong size
        api.put_mask(other_id, id_mask(1), api.annotator).status_code,  # refused inside the transaction
        api.put_mask(4242, id_mask(1), api.annotator).status_code,
        api.put_mask(image_id, id_mask(1), api.annotator).status_code,
    ]
    assert statuses == [200, 401, 200, 422, 403, 404, 201]
    with api_session() as session:
        engine = session.get_bind()  # the API's engine, whatever its options (service/db/session.py)
    assert engine.pool.checkedout() == 0
    if api.db.backend == "postgres":
        with make_engine(api.db.url).connect() as conn:
            stuck = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> "
                    "pg_backend_pid() AND state LIKE 'idle in transaction%'"
                )
            ).scalar_one()
        assert stuck == 0
