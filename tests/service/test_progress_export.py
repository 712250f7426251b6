"""Progress counts and the gtFine export."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image as PILImage

from service.config import get_settings
from tests.factories import id_mask, rgb_image
from tests.service.conftest import Api, Broker, running_round
from tests.service.test_images import _cityscapes_tree


def _lease(api: Api, pid: int, headers: dict[str, str]) -> dict:
    res = api.client.post(f"/projects/{pid}/queue/next", headers=headers)
    assert res.status_code == 200
    return res.json()


def test_progress_counts(api: Api, broker: Broker) -> None:
    pid = api.project(label_budget=10, round_schedule=[2])["id"]
    for i in range(5):
        api.upload(pid, rgb_image(i), queue=i < 4)  # 4 queued, 1 unlabeled
    a = _lease(api, pid, api.annotator)
    assert api.put_mask(a["image"]["id"], id_mask(1), api.annotator).status_code == 201
    a2 = _lease(api, pid, api.annotator)
    assert api.put_mask(a2["image"]["id"], id_mask(1), api.annotator).status_code == 201
    b = _lease(api, pid, api.annotator2)
    assert api.put_mask(a["image"]["id"], id_mask(2), api.lead).status_code == 201  # lead corrects a's first
    _lease(api, pid, api.annotator)  # open lease, not submitted
    api.client.post(f"/leases/{b['id']}/skip", headers=api.annotator2)
    api.client.post(f"/projects/{pid}/rounds", json={}, headers=api.lead)

    res = api.client.get(f"/projects/{pid}/progress", headers=api.annotator)
    assert res.status_code == 200
    p = res.json()
    counts = (p["budget_total"], p["labeled"], p["queued"], p["leased"], p["skipped"], p["unlabeled"])
    assert counts == (10, 2, 0, 1, 1, 1)
    assert p["remaining"] == 10 - 2 - 1
    (r0,) = p["rounds"]
    assert {k: r0[k] for k in ("index", "status", "batch_size", "metrics", "error", "seconds")} == {
        "index": 0,
        "status": "pending",
        "batch_size": 1,  # the schedule's 2, cut to the one unlabeled pool image
        "metrics": {},
        "error": None,
        "seconds": None,
    }
    # The round's jobs are its stages; a queued job has not started, so no time yet.
    assert [(s["kind"], s["status"], s["seconds"]) for s in r0["stages"]] == [("plan", "queued", None)]
    by_name = {a["name"]: a for a in p["annotators"]}
    assert by_name["ann"] == {
        "user_id": by_name["ann"]["user_id"],
        "name": "ann",
        "labeled": 1,
        "submissions": 2,
        "open_leases": 1,
        "expired_leases": 0,
    }
    assert by_name["lead"]["labeled"] == 1 and by_name["lead"]["submissions"] == 1
    assert by_name["ann2"]["labeled"] == 0 and by_name["ann2"]["open_leases"] == 0
    assert api.client.get("/projects/999/progress", headers=api.lead).status_code == 404


def test_export_gtfine_zip(api: Api) -> None:
    _cityscapes_tree(get_settings().import_root / "cs")
    pid = api.project()["id"]
    images = api.client.post(f"/projects/{pid}/images/import", json={"path": "cs"}, headers=api.lead).json()["images"]
    plain = api.upload(pid, rgb_image(99), queue=False)
    by_name = {i["name"]: i["id"] for i in images}
    mask = np.full((8, 12), 13, np.uint8)
    mask[0] = 255
    api.put_mask(by_name["aachen_000000_000019_leftImg8bit.png"], id_mask(mask), api.lead)
    api.put_mask(by_name["lindau_000000_000019_leftImg8bit.png"], id_mask(0), api.lead)
    api.put_mask(plain["id"], id_mask(3), api.lead)
    api.put_mask(plain["id"], id_mask(4), api.lead)  # newest version wins
    res = api.client.get(f"/projects/{pid}/export", headers=api.lead)
    assert res.status_code == 200 and res.headers["content-type"] == "application/zip"
    assert res.headers["x-labeled-images"] == "3"
    zf = zipfile.ZipFile(io.BytesIO(res.content))
    names = sorted(zf.namelist())
    plain_stem = f"gtFine/train/depthal/img_{plain['id']:06d}_gtFine_"
    stems = ["gtFine/train/aachen/aachen_000000_000019_gtFine_", "gtFine/val/lindau/lindau_000000_000019_gtFine_",
             plain_stem]  # fmt: skip
    kinds = ("labelTrainIds.png", "labelIds.png", "color.png")
    assert names == sorted([stem + kind for stem in stems for kind in kinds] + ["manifest.json"])
    read = lambda n: np.asarray(PILImage.open(io.BytesIO(zf.read(n))))  # noqa: E731
    assert np.array_equal(read("gtFine/train/aachen/aachen_000000_000019_gtFine_labelTrainIds.png"), mask)
    color = read("gtFine/train/aachen/aachen_000000_000019_gtFine_color.png")
    assert color.shape == (8, 12, 3) and tuple(color[3, 3]) == (0, 0, 142) and tuple(color[0, 0]) == (0, 0, 0)
    assert (read(plain_stem + "labelTrainIds.png") == 4).all()
    assert api.client.get(f"/projects/{pid}/export", headers=api.annotator).status_code == 403
    assert api.client.get("/projects/999/export", headers=api.lead).status_code == 404


def test_progress_time_per_stage(api: Api, broker: Broker) -> None:
    from datetime import timedelta

    from service.db.session import session_scope
    from service.db.tables import Job, JobKind, JobStatus

    pid, round_id, now = running_round(api, images=3, started_seconds_ago=100)
    with session_scope() as session:
        select_job = session.query(Job).filter_by(round_id=round_id).one()
        session.add(
            Job(
                project_id=pid,
                round_id=round_id,
                kind=JobKind.TRAIN,
                status=JobStatus.SUCCEEDED,
                stage="eval",
                progress=1.0,
                started_at=now - timedelta(seconds=90),
                finished_at=now - timedelta(seconds=30),
            )
        )
        select_job.kind = JobKind.SELECT  # the API created the plan job; here it stands for the running select
        select_job.status, select_job.started_at, select_job.stage = (
            JobStatus.RUNNING,
            now - timedelta(seconds=20),
            "select",
        )
    p = api.client.get(f"/projects/{pid}/progress", headers=api.annotator).json()
    (r0,) = p["rounds"]
    assert r0["status"] == "running" and 100 <= r0["seconds"] < 160
    by_kind = {s["kind"]: s for s in r0["stages"]}
    assert by_kind["train"]["seconds"] == pytest.approx(60.0)  # finished: end - start, exactly
    assert 20 <= by_kind["select"]["seconds"] < 80  # running: time so far
    assert (by_kind["train"]["stage"], by_kind["train"]["progress"]) == ("eval", 1.0)
