"""Issue 7's "Done when": the model-driven active-learning loop end to end over HTTP.

A real uvicorn server and a real Celery worker process, PostgreSQL and Redis: a tiny synthetic world (48×96, 24
sequences) is imported; the lead labels the val images; the cold start (plan, depth pretraining, pool scoring in
shards joined by a chord, farthest-point selection from a seeded image, the queue stage) queues the first batch;
simulated annotators label it over HTTP with the world's true masks; round 1 trains (the worker is SIGKILLed in the
middle of training and restarted: the round resumes and completes), scores, selects and pre-labels; the queue is
refilled with new, never-labeled images that carry pre-labels and reasons; annotators label again; round 2 runs; the
progress endpoint shows both training rounds with a finite mIoU.
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from PIL import Image as PILImage
from sqlalchemy import create_engine, func, select

from tests.conftest import Database, spare_redis_url
from tests.e2e.client import Client
from tests.e2e.compose import depthal_executable
from tests.e2e.server import Server, free_port
from tests.worker.procs import Worker, wait_for, worker_env

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

SIZE = (48, 96)
BATCH = 4
# Tiny models; segmentation long enough (iterations, checkpoints) that the test can kill the worker mid-training.
SETTINGS = {"preset": "tiny", "device": "cpu", "score_shard_size": 8, "seg": {"iterations": 24, "checkpoint_every": 2}}
WORKER_SETTINGS = {
    "env": "test", "secret_key": "test-secret-key", "admin_token": "test-admin-token", "job_heartbeat_seconds": "0.5",
    "job_stale_seconds": "4", "broker_visibility_timeout_seconds": "4",
}  # fmt: skip


@pytest.fixture
def database_url(postgres_database: Database) -> str:
    """The shared PostgreSQL test database, migrated once and truncated for this test (tests/conftest.py)."""
    return postgres_database.url


def _true_mask(world: Path, name: str, split: str) -> bytes:
    stem = name.removesuffix("_leftImg8bit.png")
    city = stem.split("_")[0]
    return (world / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png").read_bytes()


def _label_queue(annotators: list[Client], project_id: int, world: Path) -> list[dict[str, Any]]:
    """Annotators take turns: next → the world's true mask, until the queue is empty; returns the leases."""
    leases = []
    for k in range(100):
        client = annotators[k % len(annotators)]
        response = client.http.post(f"/projects/{project_id}/queue/next")
        if response.status_code == 204:
            return leases
        lease = client.ok(response)
        png = _true_mask(world, lease["image"]["name"], "train")
        client.ok(client.http.put(f"/images/{lease['image_id']}/mask", params={"format": "label_ids"},
                                  files={"file": ("m.png", png, "image/png")}), 201)  # fmt: skip
        leases.append(lease)
    raise AssertionError("the queue never emptied")


def test_cold_start_then_rounds_with_prelabels(database_url: str, tmp_path: Path) -> None:
    from models.data.synth.world import generate_world

    data_dir = tmp_path / "data"
    world = data_dir / "import" / "world"
    generate_world(world, sequences=24, size=SIZE, seed=3)
    broker = spare_redis_url(2)  # not the db other worker tests flush
    redis.Redis.from_url(broker).flushdb()
    env = worker_env(data_dir=str(data_dir), database_url=database_url, broker_url=broker, **WORKER_SETTINGS)
    worker = Worker(env, tmp_path / "worker.log", argv=None, app="worker.celery_app").start()
    port = free_port()
    argv = [*depthal_executable(), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    try:
        with Server(argv, env, tmp_path / "api.log", port) as api:
            _run(api.base, world, worker, database_url)
    finally:
        worker.stop()
    log = worker.log.read_text()
    assert "sent 3 scoring shards as a chord" in log, log[-3000:]
    assert re.search(r"resumed \S+seg_r001\.pt at step [1-9]", log), "training restarted from scratch after the kill"


def _run(base: str, world: Path, worker: Worker, database_url: str) -> None:
    admin = Client(base, "test-admin-token")
    lead = Client(base, admin.ok(admin.http.post("/users", json={"name": "lea", "role": "lead"}))["token"])
    users = [admin.ok(admin.http.post("/users", json={"name": f"ann{k}", "role": "annotator"})) for k in (0, 1)]
    tokens = [user["token"] for user in users]
    annotators = [Client(base, token) for token in tokens]
    body = {"name": "loop", "label_budget": 12, "image_height": SIZE[0], "image_width": SIZE[1], "settings": SETTINGS}
    project = lead.ok(lead.http.post("/projects", json=body), 201)
    pid = project["id"]
    for token in tokens:
        admin.add_member(pid, token)
    imported = lead.ok(lead.http.post(f"/projects/{pid}/images/import", json={"path": "world", "layout": "cityscapes"}))
    images = {i["id"]: i for i in imported["images"]}
    val = [i for i in images.values() if i["role"] == "val"]
    assert len(val) == 5 and len(images) == 24
    for image in val:  # the lead labels the val images (no lease needed)
        png = _true_mask(world, image["name"], "val")
        lead.ok(lead.http.put(f"/images/{image['id']}/mask", params={"format": "label_ids"},
                              files={"file": ("m.png", png, "image/png")}), 201)  # fmt: skip

    # Round 0: the cold start.
    round0 = lead.ok(lead.http.post(f"/projects/{pid}/rounds", json={"batch_size": BATCH}), 202)
    assert round0["strategy"] == "diversity+difficulty"
    round0 = lead.wait_round(round0["id"], timeout=600)
    assert round0["status"] == "succeeded", round0
    kinds = sorted(j["kind"] for j in round0["jobs"])
    assert kinds == ["plan", "predict", "pretrain_depth", "queue", "score", "score", "score", "select"], kinds
    assert all(j["status"] == "succeeded" and j["progress"] == 1.0 for j in round0["jobs"])
    leases0 = _label_queue(annotators, pid, world)
    assert len(leases0) == BATCH
    reasons = [lease["reason"] for lease in leases0]
    assert [r["rank"] for r in reasons] == [0, 1, 2, 3]  # served in pick order
    assert reasons[0]["distance"] is None and all(r["distance"] > 0 for r in reasons[1:])  # seed, then farthest points
    assert all(lease["prelabel"] is None for lease in leases0)  # no model before any label
    assert all(lease["image"]["has_segments"] for lease in leases0)  # but superpixels, from the depth model

    # Round 1: train (the worker dies in the middle and comes back), score, select, pre-label, queue.
    round1 = lead.ok(lead.http.post(f"/projects/{pid}/rounds", json={"batch_size": BATCH}), 202)

    def training() -> bool:
        jobs = lead.ok(lead.http.get(f"/rounds/{round1['id']}"))["jobs"]
        return any(j["kind"] == "train" and j["stage"] == "train" and j["progress"] >= 0.25 for j in jobs)

    wait_for(training, timeout=300, every=0.1, what="training to be under way")
    worker.kill()
    labels_before = lead.ok(lead.http.get(f"/projects/{pid}/progress"))["labeled"]
    worker.start()
    round1 = lead.wait_round(round1["id"], timeout=600)
    assert round1["status"] == "succeeded", round1
    train_job = next(j for j in round1["jobs"] if j["kind"] == "train")
    assert train_job["attempt"] == 2 and train_job["status"] == "succeeded", train_job
    assert math.isfinite(round1["metrics"]["miou"]) and round1["metrics"]["labels_used"] == BATCH
    assert set(round1["metrics"]["stage_seconds"]) == {"plan", "train", "score", "select", "predict", "queue"}
    progress = lead.ok(lead.http.get(f"/projects/{pid}/progress"))
    assert progress["labeled"] == labels_before == BATCH and progress["queued"] == BATCH  # nothing lost, no duplicate

    first = annotators[0].ok(annotators[0].http.post(f"/projects/{pid}/queue/next"))
    labeled_ids = {lease["image_id"] for lease in leases0}
    assert first["image_id"] not in labeled_ids and first["reason"]["round_index"] == 1
    assert first["reason"]["rank"] == 0 and first["reason"]["difficulty"] is not None
    links = first["prelabel"]
    ids_png = annotators[0].http.get(links["class_ids_url"])
    overlay = annotators[0].http.get(links["overlay_url"])
    assert ids_png.status_code == overlay.status_code == 200
    class_ids = np.array(PILImage.open(io.BytesIO(ids_png.content)))
    assert class_ids.shape == SIZE and class_ids.max() < 19
    assert PILImage.open(io.BytesIO(overlay.content)).size == (SIZE[1], SIZE[0])
    annotators[0].ok(annotators[0].http.post(f"/leases/{first['id']}/release"))
    leases1 = _label_queue(annotators, pid, world)
    assert len(leases1) == BATCH and not {lease["image_id"] for lease in leases1} & labeled_ids
    assert all(lease["prelabel"] is not None for lease in leases1)

    # Round 2 (train on 8 labels), then the progress endpoint shows both training rounds with a finite mIoU.
    round2 = lead.ok(lead.http.post(f"/projects/{pid}/rounds", json={"batch_size": BATCH}), 202)
    round2 = lead.wait_round(round2["id"], timeout=600)
    assert round2["status"] == "succeeded", round2
    progress = lead.ok(lead.http.get(f"/projects/{pid}/progress"))
    rounds = {r["index"]: r for r in progress["rounds"]}
    assert [rounds[k]["status"] for k in (0, 1, 2)] == ["succeeded"] * 3
    assert all(math.isfinite(rounds[k]["metrics"]["miou"]) for k in (1, 2))
    assert [rounds[k]["metrics"]["labels_used"] for k in (1, 2)] == [4, 8]
    assert progress["labeled"] == 2 * BATCH and progress["queued"] == BATCH and progress["remaining"] == 0
    _check_database(database_url, pid)


def _check_database(url: str, project_id: int) -> None:
    """Model versions recorded and kept; one annotation per labeled image; no image queued twice."""
    from service.db.tables import Annotation, Image, ModelVersion, Score

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            kinds = conn.execute(select(ModelVersion.kind, ModelVersion.checkpoint_path)
                                 .where(ModelVersion.project_id == project_id)).all()  # fmt: skip
            assert sorted(k for k, _ in kinds) == ["depth", "segmentation", "segmentation"]
            per_image = conn.execute(select(Annotation.image_id, func.count()).group_by(Annotation.image_id)).all()
            assert all(n == 1 for _, n in per_image)
            picked = conn.execute(select(Score.image_id).where(Score.rank.is_not(None))).scalars().all()
            assert len(picked) == len(set(picked)) == 3 * BATCH
            queued_rounds = conn.execute(select(Image.queued_round_id).where(Image.queued_round_id.is_not(None))).all()
            assert len(queued_rounds) == 3 * BATCH
    finally:
        engine.dispose()
