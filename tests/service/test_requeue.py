"""Re-queueing skipped images: all of a project's or given ids, at their old rank; refusals name the images and
change nothing."""

from __future__ import annotations

from sqlalchemy import select

from service.db.session import session_scope
from service.db.tables import Image
from tests.factories import id_mask, rgb_image
from tests.service.conftest import Api


def _project_with_queue(api: Api, n: int, **overrides: object) -> tuple[int, list[int]]:
    pid = api.project(**overrides)["id"]
    return pid, [api.upload(pid, rgb_image(100 * pid + i))["id"] for i in range(n)]


def _skip_next(api: Api, pid: int) -> int:
    lease = api.client.post(f"/projects/{pid}/queue/next", headers=api.annotator).json()
    assert api.client.post(f"/leases/{lease['id']}/skip", headers=api.annotator).status_code == 200
    return lease["image"]["id"]


def _states(ids: list[int]) -> dict[int, tuple[str, float | None]]:
    with session_scope() as s:
        rows = s.execute(select(Image.id, Image.state, Image.queue_rank).where(Image.id.in_(ids))).all()
    return {i: (state, rank) for i, state, rank in rows}


def _requeue(api: Api, pid: int, body: dict | None = None, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return api.client.post(f"/projects/{pid}/queue/requeue-skipped", json=body, headers=headers or api.lead)


def test_requeue_all_skipped_keeps_their_rank(api: Api) -> None:
    pid, ids = _project_with_queue(api, 3)
    before = _states(ids)
    skipped = [_skip_next(api, pid), _skip_next(api, pid)]
    assert skipped == ids[:2] and _states(ids)[ids[0]][0] == "skipped"
    res = _requeue(api, pid)  # no body: every skipped image of the project
    assert res.status_code == 200, res.text
    assert res.json()["count"] == 2 and [i["id"] for i in res.json()["data"]] == ids[:2]
    assert _states(ids) == before  # queued again, at the same ranks
    served = [api.client.post(f"/projects/{pid}/queue/next", headers=h).json()["image"]["id"]
              for h in (api.annotator, api.annotator2)]  # fmt: skip
    assert served == ids[:2]  # back in their old place, ahead of the image that was never skipped
    assert _requeue(api, pid, {}).json()["count"] == 0  # nothing left skipped


def test_requeue_given_ids_only(api: Api) -> None:
    pid, ids = _project_with_queue(api, 3)
    first, second = _skip_next(api, pid), _skip_next(api, pid)
    res = _requeue(api, pid, {"image_ids": [second, second]})
    assert res.status_code == 200 and [i["id"] for i in res.json()["data"]] == [second]
    states = _states(ids)
    assert states[first][0] == "skipped" and states[second][0] == "queued"


def test_unknown_foreign_or_unskipped_ids_are_named_and_nothing_changes(api: Api) -> None:
    pid, ids = _project_with_queue(api, 3)
    other_pid, other_ids = _project_with_queue(api, 1, name="other")
    skipped = _skip_next(api, pid)
    lease = api.client.post(f"/projects/{pid}/queue/next", headers=api.annotator).json()
    assert api.put_mask(lease["image"]["id"], id_mask(1), api.annotator).status_code == 201
    before = _states(ids + other_ids)
    res = _requeue(api, pid, {"image_ids": [skipped, other_ids[0], 9999]})
    assert res.status_code == 404
    assert res.json()["detail"] == f"not images of project {pid}: {other_ids[0]}, 9999"
    res = _requeue(api, pid, {"image_ids": [skipped, ids[1], ids[2]]})
    assert res.status_code == 409
    assert res.json()["detail"].endswith(f"these are not: {ids[1]} (labeled), {ids[2]} (queued)")
    assert _states(ids + other_ids) == before
    assert _requeue(api, pid, {"image_ids": []}).status_code == 422
    res = _requeue(api, other_pid, headers=api.annotator)
    assert res.status_code == 403 and "needs the lead role in project" in res.json()["detail"]
    assert _states(ids + other_ids) == before


def test_requeue_beyond_the_label_budget_is_refused(api: Api) -> None:
    pid, ids = _project_with_queue(api, 2, label_budget=2)
    skipped = _skip_next(api, pid)  # a skipped image no longer counts against the budget...
    fresh = api.upload(pid, rgb_image(999))["id"]  # ...so its place went to another image
    before = _states([*ids, fresh])
    assert before[skipped][0] == "skipped"
    res = _requeue(api, pid)
    assert res.status_code == 409
    assert "re-queueing 1 pool images would exceed the remaining label budget of 0" in res.json()["detail"]
    assert _states([*ids, fresh]) == before
