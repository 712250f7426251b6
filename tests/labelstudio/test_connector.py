"""The Label Studio connector against a real Label Studio server (issue 22's "Done when"): link, a round's push in
rank order with predictions, an annotation made through Label Studio's API arriving as the exact mask (its webhook),
an update as a new version, a duplicate delivery storing nothing, a skipped task freeing its image, refusals, and a
sync after Label Studio was down repairing the state. One Label Studio for the module; a fresh depthal per test."""

from __future__ import annotations

import io
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image as PILImage
from sqlalchemy import select

from service.db.session import session_scope
from service.db.tables import Annotation, Image, LabelStudioTask, Lease, Round, User
from service.labelstudio import rle
from service.labelstudio.signing import WEBHOOK_HEADER, webhook_secret
from tests.factories import make_project, make_round, queue_round
from tests.labelstudio.conftest import Depthal
from tests.labelstudio.server import LabelStudioServer

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

H, W = 16, 32  # tests/factories.py images
ROAD, CAR, SKY = 0, 13, 10  # Cityscapes train ids of the default classes


def prelabel(seed: int) -> np.ndarray:
    ids = np.full((H, W), ROAD, np.uint8)
    ids[:, W // 2 :] = CAR
    ids[0, :] = 255
    ids[seed % H, seed % W] = SKY
    return ids


def region(label: str, mask: np.ndarray) -> dict[str, Any]:
    return {"from_name": "label", "to_name": "image", "type": "brushlabels", "original_width": W,
            "original_height": H, "image_rotation": 0,
            "value": {"format": "rle", "rle": rle.encode(mask), "brushlabels": [label]}}  # fmt: skip


def pushed_round(
    depthal: Depthal, label_studio: LabelStudioServer, chosen: list[int], **link: Any
) -> tuple[int, int, list[int]]:
    """A linked project whose round 0 queued `chosen` (positions among 5 images) and pushed them; (project id,
    round id, the chosen image ids in pick order)."""
    from worker.round.queue import push_to_labelstudio

    pid = make_project(5)
    res = depthal.link(pid, label_studio, **link)
    assert res.status_code == 201, res.text
    with session_scope() as session:
        ids = list(session.scalars(select(Image.id).where(Image.project_id == pid).order_by(Image.id)))
    picks = [ids[k] for k in chosen]
    round_id, _ = make_round(pid, len(picks))
    assert queue_round(round_id, picks, {i: prelabel(i) for i in picks}) == picks
    push_to_labelstudio(pid, round_id)
    return pid, round_id, picks


def tasks_of(label_studio: LabelStudioServer, ls_project: int) -> list[dict[str, Any]]:
    with label_studio.api() as api:
        res = api.get("/api/tasks", params={"project": ls_project, "page_size": 100, "fields": "all"})
        assert res.status_code == 200, res.text
        return sorted(res.json()["tasks"], key=lambda t: t["id"])


def ls_project_of(depthal: Depthal, pid: int) -> int:
    return int(depthal.http.get(f"/projects/{pid}", headers=depthal.lead).json()["settings"]["labelstudio"]["project"])


def task_of(label_studio: LabelStudioServer, ls_project: int, image_id: int) -> dict[str, Any]:
    return next(t for t in tasks_of(label_studio, ls_project) if t["data"]["depthal_image"] == image_id)


def stored_mask(depthal: Depthal, image_id: int, version: int | None = None) -> np.ndarray:
    params = {"version": version} if version else {}
    res = depthal.http.get(f"/images/{image_id}/mask", params=params, headers=depthal.lead)
    assert res.status_code == 200, res.text
    return np.asarray(PILImage.open(io.BytesIO(res.content)))


def versions(image_id: int) -> list[tuple[int, str | None]]:
    with session_scope() as session:
        rows = session.execute(select(Annotation.version, User.name).outerjoin(User, User.id == Annotation.annotator_id)
                               .where(Annotation.image_id == image_id).order_by(Annotation.version)).all()  # fmt: skip
        return [(v, n) for v, n in rows]


def image_state(image_id: int) -> str:
    with session_scope() as session:
        image = session.get(Image, image_id)
        assert image is not None
        return image.state


# ---------------------------------------------------------------------------------------------------- link
def test_link_refuses_wrong_url_token_and_labels_and_saves_nothing(
    depthal: Depthal, label_studio: LabelStudioServer, closed_port: int
) -> None:
    pid = make_project(1)
    before = depthal.http.get(f"/projects/{pid}", headers=depthal.lead).json()["settings"]

    wrong_token = depthal.link(pid, label_studio, token="0" * 40)
    assert wrong_token.status_code == 422 and "refused the token" in wrong_token.json()["detail"]
    wrong_url = depthal.link(pid, label_studio, url=f"http://127.0.0.1:{closed_port}")
    assert wrong_url.status_code == 422 and "cannot be reached" in wrong_url.json()["detail"]
    not_ls = depthal.link(pid, label_studio, url=depthal.url)  # a server that is not Label Studio
    assert not_ls.status_code == 422, not_ls.text
    with label_studio.api() as api:
        config = ('<View><Image name="image" value="$image"/><BrushLabels name="label" toName="image">'
                  '<Label value="road"/><Label value="unicorn"/></BrushLabels></View>')  # fmt: skip
        other = api.post("/api/projects", json={"title": "not depthal's labels", "label_config": config}).json()
    mismatch = depthal.link(pid, label_studio, project=other["id"])
    assert mismatch.status_code == 422
    assert "missing sidewalk" in mismatch.json()["detail"] and "unknown unicorn" in mismatch.json()["detail"]
    assert depthal.http.get(f"/projects/{pid}", headers=depthal.lead).json()["settings"] == before

    linked = depthal.link(pid, label_studio)
    assert linked.status_code == 201, linked.text
    assert linked.json()["webhook"] is not None and "token" not in linked.json()
    shown = depthal.http.get(f"/projects/{pid}", headers=depthal.lead).json()["settings"]["labelstudio"]
    assert shown["token"] == "**********" and label_studio.token not in str(shown)
    with label_studio.api() as api:
        parsed = api.get(f"/api/projects/{shown['project']}").json()["parsed_label_config"]["label"]
    assert (
        parsed["type"] == "BrushLabels" and parsed["labels"][:2] == ["road", "sidewalk"] and len(parsed["labels"]) == 19
    )
    patch = depthal.http.patch(f"/projects/{pid}", json={"settings": {"labelstudio": {"url": "http://x"}}},
                               headers=depthal.lead)  # fmt: skip
    assert patch.status_code == 422 and "set by linking" in patch.json()["detail"]


# ---------------------------------------------------------------------------------------------------- push
def test_round_pushes_queue_in_rank_order_with_prelabels_and_reasons(
    depthal: Depthal, label_studio: LabelStudioServer
) -> None:
    from worker.round.queue import push_to_labelstudio

    pid, round_id, picks = pushed_round(depthal, label_studio, [3, 0, 4])
    tasks = tasks_of(label_studio, ls_project_of(depthal, pid))
    assert [t["data"]["depthal_image"] for t in tasks] == picks  # created in rank order: sequential sampling's order
    scores = [t["predictions"][0]["score"] for t in tasks]
    assert scores == sorted(scores) and scores[0] == 0.0
    for task, image_id in zip(tasks, picks, strict=True):
        prediction = task["predictions"][0]
        assert prediction["model_version"] == "round-0"
        assert task["data"]["reason"].startswith("chosen by depthal: round 0, random, pick ")
        decoded = np.full((H, W), 255, np.uint8)
        for result in prediction["result"]:
            train_id = {"road": ROAD, "car": CAR, "sky": SKY}[result["value"]["brushlabels"][0]]
            decoded[rle.decode(result["value"]["rle"], width=W, height=H)] = train_id
        assert (decoded == prelabel(image_id)).all()
        image = httpx.get(task["data"]["image"])  # the signed URL an annotator's browser loads
        assert image.status_code == 200 and image.content[:4] == b"\x89PNG"
        assert httpx.get(task["data"]["image"].split("?")[0]).status_code == 401
        assert image_state(image_id) == "leased"  # held for Label Studio: depthal's own `next` skips it
    with session_scope() as session:
        round_ = session.get(Round, round_id)
        assert round_ is not None and round_.metrics["labelstudio"]["pushed"] == 3
    again = depthal.sync(pid)  # nothing new: a second push creates no task
    assert again.status_code == 200 and again.json()["pushed"] == []
    assert len(tasks_of(label_studio, ls_project_of(depthal, pid))) == 3

    with session_scope() as session:  # round 1 queues one more image behind round 0's
        left = session.scalars(select(Image.id).where(Image.project_id == pid, Image.state == "unlabeled")).first()
        assert left is not None
    round_1, _ = make_round(pid, 1)
    assert queue_round(round_1, [left], {left: prelabel(left)}) == [left]
    push_to_labelstudio(pid, round_1)
    tasks = tasks_of(label_studio, ls_project_of(depthal, pid))
    assert [t["data"]["depthal_image"] for t in tasks] == [*picks, left]
    assert tasks[-1]["predictions"][0]["model_version"] == "round-1"
    with label_studio.api() as api:  # the editor pre-fills tasks with the newest round's predictions
        assert api.get(f"/api/projects/{ls_project_of(depthal, pid)}").json()["model_version"] == "round-1"


# ---------------------------------------------------------------------------------------------------- labels back
@pytest.mark.parametrize("depthal", ["sqlite", "postgres"], indirect=True)
def test_annotation_arrives_as_exact_mask_update_is_new_version_duplicate_stores_nothing(
    depthal: Depthal, label_studio: LabelStudioServer
) -> None:
    pid, _, picks = pushed_round(depthal, label_studio, [1, 2])
    task = task_of(label_studio, ls_project_of(depthal, pid), picks[0])
    road = np.zeros((H, W), bool)
    road[:, :20] = True
    car = np.zeros((H, W), bool)
    car[4:12, 12:28] = True  # overlaps road on columns 12..19: listed later, so car wins there
    with label_studio.api() as api:
        created = api.post(f"/api/tasks/{task['id']}/annotations",
                           json={"result": [region("road", road), region("car", car)]})  # fmt: skip
        assert created.status_code == 201, created.text
        # Label Studio delivered ANNOTATION_CREATED to depthal's webhook before answering
        expected = np.full((H, W), 255, np.uint8)
        expected[road] = ROAD
        expected[car] = CAR
        assert (stored_mask(depthal, picks[0]) == expected).all()
        assert versions(picks[0]) == [(1, LabelStudioServer.username)]
        assert image_state(picks[0]) == "labeled"

        sky = np.zeros((H, W), bool)
        sky[:3] = True
        regions = [region("road", road), region("car", car), region("sky", sky)]
        updated = api.patch(f"/api/annotations/{created.json()['id']}", json={"result": regions})
        assert updated.status_code == 200, updated.text
        expected[sky] = SKY
        assert [v for v, _ in versions(picks[0])] == [1, 2]
        assert (stored_mask(depthal, picks[0], 2) == expected).all()
        assert (stored_mask(depthal, picks[0], 1) != expected).any()

        annotation = api.get(f"/api/annotations/{created.json()['id']}").json()
    hook = f"/labelstudio/webhook/{pid}"
    payload = {"action": "ANNOTATION_UPDATED", "annotation": annotation, "task": {"id": task["id"]}}
    for _ in range(2):  # the same delivery again, twice
        again = depthal.http.post(hook, json=payload, headers={WEBHOOK_HEADER: webhook_secret(pid)})
        assert again.status_code == 200 and again.json()["labeled"] == [] and again.json()["unchanged"] == 1
    assert [v for v, _ in versions(picks[0])] == [1, 2]
    assert depthal.http.post(hook, json=payload, headers={WEBHOOK_HEADER: "wrong"}).status_code == 401
    assert depthal.http.post(hook, json=payload).status_code == 401
    assert depthal.sync(pid).json()["labeled"] == []  # the poll finds nothing new either


def test_unknown_label_or_wrong_size_is_refused_and_reported(depthal: Depthal, label_studio: LabelStudioServer) -> None:
    pid, _, picks = pushed_round(depthal, label_studio, [0, 1], webhook=False)
    ls_project = ls_project_of(depthal, pid)
    everything = np.ones((H, W), bool)
    wrong_size = {**region("road", np.ones((H, W + 1), bool)), "original_width": W + 1}
    with label_studio.api() as api:
        for image_id, result in ((picks[0], region("unicorn", everything)), (picks[1], wrong_size)):
            task = task_of(label_studio, ls_project, image_id)
            res = api.post(f"/api/tasks/{task['id']}/annotations", json={"result": [result]})
            assert res.status_code == 201, res.text
    synced = depthal.sync(pid).json()
    refused = {r["image"]: r["error"] for r in synced["refused"]}
    assert "unknown label 'unicorn'" in refused[picks[0]]
    assert f"is {W + 1}x{H} but the image is {W}x{H}" in refused[picks[1]]
    assert versions(picks[0]) == [] and versions(picks[1]) == []
    assert image_state(picks[0]) == image_state(picks[1]) == "leased"  # still Label Studio's to fix


@pytest.mark.parametrize("depthal", ["sqlite", "postgres"], indirect=True)
def test_skipped_task_frees_the_image(depthal: Depthal, label_studio: LabelStudioServer) -> None:
    pid, _, picks = pushed_round(depthal, label_studio, [0, 1])
    task = task_of(label_studio, ls_project_of(depthal, pid), picks[0])
    with label_studio.api() as api:
        skipped = api.post(f"/api/tasks/{task['id']}/annotations", json={"result": [], "was_cancelled": True})
        assert skipped.status_code == 201, skipped.text
    assert image_state(picks[0]) == "queued" and versions(picks[0]) == []
    admin = {"Authorization": "Bearer test-admin-token"}
    res = depthal.http.post("/users", json={"name": "ann", "role": "annotator"}, headers=admin)
    member = depthal.http.put(f"/projects/{pid}/members/{res.json()['id']}", json={"role": "annotator"}, headers=admin)
    assert member.status_code == 200, member.text
    annotator = {"Authorization": f"Bearer {res.json()['token']}"}
    lease = depthal.http.post(f"/projects/{pid}/queue/next", headers=annotator)
    assert lease.status_code == 200 and lease.json()["image"]["id"] == picks[0]  # a depthal annotator gets it
    assert depthal.sync(pid).json()["pushed"] == []  # and no sync pushes it to Label Studio again


# ---------------------------------------------------------------------------------------------------- reconcile
def test_sync_after_label_studio_was_down_repairs_the_state(depthal: Depthal, label_studio: LabelStudioServer) -> None:
    from worker.round.queue import push_to_labelstudio

    pid, round_id, picks = pushed_round(depthal, label_studio, [0, 1, 2, 3], webhook=False)
    ls_project = ls_project_of(depthal, pid)
    tasks = {t["data"]["depthal_image"]: t["id"] for t in tasks_of(label_studio, ls_project)}
    label_studio.stop()
    try:
        down = depthal.sync(pid)
        assert down.status_code == 503 and "cannot be reached" in down.json()["detail"]
        push_to_labelstudio(pid, round_id)  # a round's queue stage ending now: the round stands, its metrics say why
        with session_scope() as session:
            round_ = session.get(Round, round_id)
            assert round_ is not None and round_.status == "succeeded"
            assert "cannot be reached" in round_.metrics["labelstudio"]["error"]
        # meanwhile in depthal: a lead labels picks[0] directly, and one more image is queued
        mask = io.BytesIO()
        PILImage.fromarray(np.full((H, W), ROAD, np.uint8)).save(mask, "PNG")
        put = depthal.http.put(f"/images/{picks[0]}/mask", content=mask.getvalue(),
                               headers={**depthal.lead, "Content-Type": "image/png"})  # fmt: skip
        assert put.status_code == 201, put.text
        with session_scope() as session:
            extra = session.scalars(select(Image).where(Image.project_id == pid, Image.state == "unlabeled")).first()
            assert extra is not None
            extra.state, extra.queue_rank, extra_id = "queued", 99.0, extra.id
    finally:
        label_studio.start()
    with label_studio.api() as api:  # in Label Studio: picks[1] annotated (no webhook: missed), picks[2]'s task deleted
        assert api.post(f"/api/tasks/{tasks[picks[1]]}/annotations",
                        json={"result": [region("car", np.ones((H, W), bool))]}).status_code == 201  # fmt: skip
        assert api.delete(f"/api/tasks/{tasks[picks[2]]}/").status_code == 204
    repaired = depthal.sync(pid)
    assert repaired.status_code == 200, repaired.text
    done = repaired.json()
    assert done["labeled"] == [picks[1]] and (stored_mask(depthal, picks[1]) == CAR).all()
    assert sorted(done["removed"]) == sorted([picks[0], picks[2]])
    assert done["pushed"] == [picks[2], extra_id]  # the deleted task's image is queued again, then the new one
    live = {t["data"]["depthal_image"] for t in tasks_of(label_studio, ls_project)}
    assert picks[0] not in live and picks[3] in live and extra_id in live
    with session_scope() as session:
        open_holds = session.scalars(
            select(LabelStudioTask.image_id).join(Lease, Lease.id == LabelStudioTask.lease_id)
            .where(LabelStudioTask.project_id == pid, Lease.status == "open")
        ).all()  # fmt: skip
    assert picks[3] in open_holds and extra_id in open_holds and picks[0] not in open_holds
    second = depthal.sync(pid).json()  # nothing left to repair: nothing duplicated
    assert second["pushed"] == [] and second["removed"] == [] and second["labeled"] == []
    assert [v for v, _ in versions(picks[1])] == [1]


# ---------------------------------------------------------------------------------------------------- CLI
def test_cli_link_and_sync(
    depthal: Depthal,
    label_studio: LabelStudioServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    from cli.main import main
    from tests.factories import queue_all

    pid = make_project(2)
    queue_all(pid)
    link = ["labelstudio", "link", "--project", str(pid), "--url", label_studio.url, "--public-url", depthal.url]
    assert main(link) == 2 and "DEPTHAL_LABELSTUDIO_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("DEPTHAL_LABELSTUDIO_TOKEN", "f" * 40)
    assert main(link) == 2 and "refused the token" in capsys.readouterr().err
    monkeypatch.setenv("DEPTHAL_LABELSTUDIO_TOKEN", label_studio.token)
    assert main(link) == 0
    linked = json.loads(capsys.readouterr().out)
    assert linked["webhook"] is not None and label_studio.token not in json.dumps(linked)
    assert main(["labelstudio", "sync", "--project", str(pid)]) == 0
    synced = json.loads(capsys.readouterr().out)
    assert len(synced["pushed"]) == 2
    assert [t["data"]["depthal_image"] for t in tasks_of(label_studio, linked["project"])] == synced["pushed"]


def test_personal_access_token_links_and_syncs(depthal: Depthal, label_studio: LabelStudioServer) -> None:
    """Label Studio's default token kind: a JWT refresh token that depthal exchanges for access tokens."""
    from tests.factories import queue_all

    with label_studio.api() as api:
        created = api.post("/api/token/")
        assert created.status_code == 201, created.text
        pat = created.json()["token"]
    assert pat.count(".") == 2
    pid = make_project(1)
    queue_all(pid)
    linked = depthal.link(pid, label_studio, token=pat)
    assert linked.status_code == 201, linked.text
    synced = depthal.sync(pid)
    assert synced.status_code == 200 and len(synced.json()["pushed"]) == 1
    forged = depthal.link(make_project(1, name="q"), label_studio, token=pat[:-4] + "AAAA")
    assert forged.status_code == 422 and "refused the token" in forged.json()["detail"]


# ---------------------------------------------------------------------------------------------------- ML backend
def test_ml_backend_serves_newest_prelabels_and_start_training_starts_a_round(
    depthal: Depthal, label_studio: LabelStudioServer
) -> None:
    from service import storage
    from tests.factories import encode_png

    pid, _, picks = pushed_round(depthal, label_studio, [0, 1], ml_backend=True)
    ls_project = ls_project_of(depthal, pid)
    with label_studio.api() as api:
        (backend,) = api.get("/api/ml/", params={"project": ls_project}).json()  # Label Studio checked health, setup
    assert backend["url"] == f"{depthal.url}/labelstudio/ml/{pid}"
    with label_studio.api() as api:  # the editor asks the backend: its title is the project's model version
        assert api.get(f"/api/projects/{ls_project}").json()["model_version"] == backend["title"] == "depthal"
    assert httpx.get(f"{backend['url']}/health").status_code == 401  # basic auth: Label Studio's credentials only
    newer = np.full((H, W), CAR, np.uint8)  # what round 1 predicted for picks[0]
    round_1, _ = make_round(pid, 2)
    with session_scope() as session:
        finished = session.get(Round, round_1)
        assert finished is not None
        finished.status = "succeeded"
        image = session.get(Image, picks[0])
        assert image is not None
        relative = storage.prelabel_file(pid, picks[0], 1)
        storage.absolute(relative).parent.mkdir(parents=True, exist_ok=True)
        storage.absolute(relative).write_bytes(encode_png(newer))
        image.prelabel_path = str(relative)
    with label_studio.api() as api:  # "Retrieve Predictions": Label Studio asks /setup (round-1), then /predict
        res = api.post("/api/dm/actions", params={"id": "retrieve_tasks_predictions", "project": ls_project},
                       json={"selectedItems": {"all": True, "excluded": []}})  # fmt: skip
        assert res.status_code == 200, res.text
    task = task_of(label_studio, ls_project, picks[0])
    assert [p["model_version"] for p in task["predictions"]] == ["round-0", "round-1"]  # the push's, the backend's
    (region_,) = task["predictions"][-1]["result"]
    assert region_["value"]["brushlabels"] == ["car"]
    assert rle.decode(region_["value"]["rle"], width=W, height=H).all()

    with label_studio.api() as api:  # "Start training" posts START_TRAINING to depthal's /webhook
        trained = api.post(f"/api/ml/{backend['id']}/train")
        assert trained.status_code == 200, trained.text
    rounds = depthal.http.get(f"/projects/{pid}/rounds", headers=depthal.lead).json()["data"]
    assert [r["index"] for r in rounds] == [0, 1, 2] and rounds[2]["status"] == "pending"


def test_the_workers_periodic_sync_takes_a_missed_annotation(depthal: Depthal, label_studio: LabelStudioServer) -> None:
    from worker.sweeps import sync_labelstudio

    pid, _, picks = pushed_round(depthal, label_studio, [0], webhook=False)  # no webhook: every annotation is missed
    task = task_of(label_studio, ls_project_of(depthal, pid), picks[0])
    with label_studio.api() as api:
        res = api.post(f"/api/tasks/{task['id']}/annotations", json={"result": [region("sky", np.ones((H, W), bool))]})
        assert res.status_code == 201, res.text
    assert versions(picks[0]) == []
    assert sync_labelstudio(force=True) == [pid]
    assert versions(picks[0]) == [(1, LabelStudioServer.username)] and (stored_mask(depthal, picks[0]) == SKY).all()
    assert sync_labelstudio() == []  # not due again before labelstudio_sync_seconds
