"""Rounds and jobs: commit, then send by name to the real Redis broker; budget and one-round-at-a-time rules."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from service.db.session import session_scope
from service.db.tables import Job, Round
from tests.factories import rgb_image
from tests.service.conftest import Api, Broker


def _counts() -> tuple[int, int]:
    with session_scope() as s:
        return s.query(Round).count(), s.query(Job).count()


def test_start_round_enqueues_its_plan_job_and_returns_202(api: Api, broker: Broker) -> None:
    pid = api.project(pool=3, label_budget=5, round_schedule=[2, 3])["id"]
    res = api.client.post(f"/projects/{pid}/rounds", json={}, headers=api.lead)
    assert res.status_code == 202, res.text
    body = res.json()
    assert body["index"] == 0 and body["status"] == "pending" and body["batch_size"] == 2
    (job,) = body["jobs"]
    assert job["status"] == "queued" and job["kind"] == "plan" and job["params"] == {}  # the round holds its batch
    (msg,) = broker.messages()
    assert msg["task"] == "depthal.plan" and msg["argsrepr"] == f"[{job['id']}]"
    with session_scope() as s:
        assert s.get(Job, job["id"]).celery_task_id == msg["id"]
    listed = api.client.get(f"/projects/{pid}/rounds", headers=api.annotator).json()
    assert listed["count"] == 1 and listed["data"][0]["id"] == body["id"]
    assert api.client.get(f"/rounds/{body['id']}", headers=api.annotator).json()["index"] == 0
    got = api.client.get(f"/jobs/{job['id']}", headers=api.annotator).json()
    assert got["status"] == "queued" and got["progress"] == 0.0 and got["error"] is None


def test_second_round_while_one_runs_is_refused(api: Api, broker: Broker) -> None:
    pid = api.project(pool=2)["id"]
    assert api.client.post(f"/projects/{pid}/rounds", json={"batch_size": 2}, headers=api.lead).status_code == 202
    res = api.client.post(f"/projects/{pid}/rounds", json={"batch_size": 2}, headers=api.lead)
    assert res.status_code == 409 and "round 0" in res.json()["detail"] and "still pending" in res.json()["detail"]
    assert _counts() == (1, 1) and len(broker.messages()) == 1


def test_round_beyond_remaining_budget_is_refused(api: Api, broker: Broker) -> None:
    pid = api.project(pool=2, label_budget=3)["id"]
    for i in range(2):
        api.upload(pid, rgb_image(i), queue=True)  # 2 of 3 spent
    res = api.client.post(f"/projects/{pid}/rounds", json={"batch_size": 2}, headers=api.lead)
    assert res.status_code == 409 and "only 1 of the label budget (3) remain" in res.json()["detail"]
    assert _counts() == (0, 0) and broker.messages() == []
    # the schedule's default (2) is cut to the remaining budget
    res = api.client.post(f"/projects/{pid}/rounds", json={}, headers=api.lead)
    assert res.status_code == 202 and res.json()["batch_size"] == 1


def test_round_with_spent_budget_or_no_schedule(api: Api, broker: Broker) -> None:
    pid = api.project(label_budget=0)["id"]
    res = api.client.post(f"/projects/{pid}/rounds", json={"batch_size": 1}, headers=api.lead)
    assert res.status_code == 409 and "budget of 0 is spent" in res.json()["detail"]
    pid = api.project(pool=1, name="q", round_schedule=[])["id"]
    res = api.client.post(f"/projects/{pid}/rounds", json={}, headers=api.lead)
    assert res.status_code == 422 and "no round schedule" in res.json()["detail"]
    res = api.client.post(f"/projects/{pid}/rounds", json={"batch_size": 0}, headers=api.lead)
    assert res.status_code == 422
    assert _counts() == (0, 0) and broker.messages() == []


def test_round_asking_more_than_the_unlabeled_pool_is_refused_at_the_api(api: Api, broker: Broker) -> None:
    """Issue 19, item 10. Before: 202, then a plan job that failed ("needs 3 unlabeled pool images")."""
    pid = api.project(pool=2, label_budget=10)["id"]
    res = api.client.post(f"/projects/{pid}/rounds", json={"batch_size": 3}, headers=api.lead)
    assert res.status_code == 409 and "only 2 unlabeled pool images" in res.json()["detail"], res.text
    assert _counts() == (0, 0) and broker.messages() == []
    res = api.client.post(f"/projects/{pid}/rounds", json={}, headers=api.lead)  # the schedule's 2: cut to 2
    assert res.status_code == 202 and res.json()["batch_size"] == 2
    empty = api.project(name="empty")["id"]
    res = api.client.post(f"/projects/{empty}/rounds", json={}, headers=api.lead)
    assert res.status_code == 409 and "no unlabeled pool images" in res.json()["detail"]


def test_cancel_round_then_next_round_allowed(api: Api, broker: Broker) -> None:
    pid = api.project(pool=3)["id"]
    first = api.client.post(f"/projects/{pid}/rounds", json={}, headers=api.lead).json()
    res = api.client.post(f"/rounds/{first['id']}/cancel", headers=api.annotator)
    assert res.status_code == 403
    res = api.client.post(f"/rounds/{first['id']}/cancel", headers=api.lead)
    assert res.status_code == 200 and res.json()["status"] == "cancelled"
    assert res.json()["jobs"][0]["status"] == "cancelled"
    res = api.client.post(f"/rounds/{first['id']}/cancel", headers=api.lead)
    assert res.status_code == 409 and "already cancelled" in res.json()["detail"]
    second = api.client.post(f"/projects/{pid}/rounds", json={}, headers=api.lead)
    assert second.status_code == 202 and second.json()["index"] == 1 and second.json()["batch_size"] == 3
    # cancelling the round's job cancels the round
    job_id = second.json()["jobs"][0]["id"]
    assert api.client.post(f"/jobs/{job_id}/cancel", headers=api.lead).json()["status"] == "cancelled"
    assert api.client.get(f"/rounds/{second.json()['id']}", headers=api.lead).json()["status"] == "cancelled"
    assert api.client.post(f"/jobs/{job_id}/cancel", headers=api.lead).status_code == 409
    assert api.client.post("/rounds/999/cancel", headers=api.lead).status_code == 404
    assert api.client.post("/jobs/999/cancel", headers=api.lead).status_code == 404


def test_validate_images_job(api: Api, broker: Broker) -> None:
    pid = api.project()["id"]
    res = api.client.post(f"/projects/{pid}/jobs", json={"kind": "validate_images"}, headers=api.lead)
    assert res.status_code == 202, res.text
    job = res.json()
    assert job["kind"] == "validate_images" and job["round_id"] is None
    (msg,) = broker.messages()
    assert msg["task"] == "depthal.validate_images" and msg["argsrepr"] == f"[{job['id']}]"
    listed = api.client.get(f"/projects/{pid}/jobs", headers=api.lead).json()
    assert listed["count"] == 1 and listed["data"][0]["id"] == job["id"]
    res = api.client.post(f"/projects/{pid}/jobs", json={"kind": "train"}, headers=api.lead)
    assert res.status_code == 422
    assert api.client.post(f"/projects/{pid}/jobs", json={}, headers=api.annotator).status_code == 403
    assert api.client.get("/jobs/999", headers=api.lead).status_code == 404
    assert api.client.get("/rounds/999", headers=api.lead).status_code == 404
    assert len(broker.messages()) == 1


def test_unreachable_broker_fails_the_round_at_once(
    api: Api, monkeypatch: pytest.MonkeyPatch, closed_port: int
) -> None:
    from service.config import get_settings

    monkeypatch.setenv("DEPTHAL_BROKER_URL", f"redis://127.0.0.1:{closed_port}/0")  # nothing listens there
    get_settings.cache_clear()
    pid = api.project(pool=2)["id"]
    res = api.client.post(f"/projects/{pid}/rounds", json={}, headers=api.lead)
    assert res.status_code == 503 and "broker is unreachable" in res.json()["detail"]
    with session_scope() as s:
        round_ = s.scalars(select(Round)).one()
        assert round_.status == "failed" and "could not enqueue" in round_.error
        assert s.scalars(select(Job)).one().status == "failed"
    ready = api.client.get("/health/ready")
    assert ready.status_code == 503 and ready.json()["checks"]["broker"].startswith("unreachable")
    assert ready.json()["checks"]["database"] == "ok"
    # a failed round does not block the next one
    from service import task_queue

    monkeypatch.setattr(task_queue, "enqueue", lambda task, job_id: "task-id")
    res = api.client.post(f"/projects/{pid}/rounds", json={}, headers=api.lead)
    assert res.status_code == 202 and res.json()["index"] == 1
