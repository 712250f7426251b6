"""A project made from one video only, end to end (tiny preset, in-process stages): upload over HTTP, the import
job, a cold-start round whose depth stage trains on every stored frame triplet (and says how many), labels for its
batch over HTTP, then a round that queues images with pre-labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.db.session import session_scope
from service.db.tables import JobKind, JobStatus, Round
from tests.factories import encode_video, load_job, mask_png, synth_frames
from tests.service.conftest import Api
from tests.service.test_videos import run_import
from tests.worker.test_round_stages import _drive, _jobs

N_FRAMES = 20


def _start_round(api: Api, pid: int, sent: list[tuple[str, int]]) -> tuple[int, int]:
    res = api.client.post(f"/projects/{pid}/rounds", json={}, headers=api.lead)
    assert res.status_code == 202, res.text
    kind, plan_job = sent.pop()
    assert kind == JobKind.PLAN
    return res.json()["id"], plan_job


@pytest.mark.slow
def test_video_only_project_runs_rounds_with_depth_on_every_triplet(
    sqlite_database, sent: list, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from service.main import create_app
    from tests.service.conftest import ADMIN_TOKEN

    with TestClient(create_app()) as client:
        api = Api(client, sqlite_database, {"Authorization": f"Bearer {ADMIN_TOKEN}"}, {}, {}, {})
        api.lead = api.user("lead", "lead")
        pid = api.project(image_height=32, image_width=64, round_schedule=[2], settings={"preset": "tiny"})["id"]
        video = encode_video(tmp_path / "drive.mp4", synth_frames(N_FRAMES))
        res = client.post(f"/projects/{pid}/videos", files={"file": ("drive.mp4", video.read_bytes())},
                          data={"pool_every": "4", "hfov_deg": "49"}, headers=api.lead)  # fmt: skip
        assert res.status_code == 202, res.text
        assert run_import(sent.pop()[1]).result["pool_images"] == 5  # source frames 2, 6, 10, 14, 18

        round_id, plan_job = _start_round(api, pid, sent)
        _drive(round_id, plan_job)
        depth = next(j for j in _jobs(round_id) if j.kind == JobKind.PRETRAIN_DEPTH)
        assert depth.status == JobStatus.SUCCEEDED, depth.error
        # every stored frame with both neighbours, once: the 5 pool images are among them, not extra
        assert depth.result["triplets"] == N_FRAMES - 2 and depth.result["sequence_triplets"] == N_FRAMES - 2
        assert depth.result["pool_triplets"] == 0 and depth.result["sequences"] == 1

        for _ in range(2):  # label round 0's batch
            lease = client.post(f"/projects/{pid}/queue/next", headers=api.lead).json()
            assert lease["prelabel"] is None  # cold start: no segmentation model yet
            image = lease["image"]
            res = client.put(f"/images/{image['id']}/mask", content=mask_png(image["width"], image["height"], 0),
                             headers={**api.lead, "Content-Type": "image/png"})  # fmt: skip
            assert res.status_code == 201, res.text

        round_id, plan_job = _start_round(api, pid, sent)
        _drive(round_id, plan_job)
        with session_scope() as session:
            round_ = session.get(Round, round_id)
            assert round_ is not None and round_.status == "succeeded", round_.error if round_ else None
        assert not [j for j in _jobs(round_id) if j.kind == JobKind.PRETRAIN_DEPTH]  # the depth model is reused
        lease = client.post(f"/projects/{pid}/queue/next", headers=api.lead).json()
        assert lease["prelabel"] is not None and lease["reason"]["round_index"] == 1
        assert client.get(lease["prelabel"]["class_ids_url"], headers=api.lead).status_code == 200
        assert load_job(depth.id).result["triplets"] == N_FRAMES - 2
