"""The round's stage jobs in-process (no Celery): planning, bad input → a clear job error with the queue unchanged,
and a whole cold start driven job by job, on a tiny synthetic world stored like imported images."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from service import storage
from service.crud.projects import default_classes
from service.db.session import session_scope
from service.db.tables import Image, ImageRole, ImageState, Job, JobKind, JobStatus, Project, Round, Score
from tests.factories import make_round
from worker.jobs import PIPELINES
from worker.round import plan
from worker.round.advance import next_to_send
from worker.runner import run_job

SIZE = (32, 64)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from models.data.synth.world import generate_world

    return generate_world(tmp_path_factory.mktemp("world") / "w", sequences=8, size=SIZE, seed=2, val_fraction=0.0).out


def _project(world: Path, **settings: object) -> int:
    """A project whose pool is the world's train frames (with neighbours), files copied into storage."""
    from contracts.cityscapes import find_frames

    with session_scope() as session:
        project = Project(name="p", label_budget=100, round_schedule=[2], image_height=SIZE[0], image_width=SIZE[1],
                          settings={"preset": "tiny", **settings})  # fmt: skip
        project.classes = default_classes()
        session.add(project)
        session.flush()
        for rec in find_frames(world, "train"):
            data = rec.image.read_bytes()
            img = Image(project_id=project.id, role=ImageRole.POOL, name=rec.image.name, path="", width=SIZE[1],
                        height=SIZE[0], checksum=hashlib.sha256(data).hexdigest())  # fmt: skip
            session.add(img)
            session.flush()
            paths = {}
            for frame, src in (("t", rec.image), ("prev", rec.prev), ("next", rec.next)):
                rel = storage.image_file(project.id, img.id, ".png", frame)
                storage.absolute(rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, storage.absolute(rel))
                paths[frame] = str(rel)
            img.path, img.prev_path, img.next_path = paths["t"], paths["prev"], paths["next"]
        return project.id


def _drive(round_id: int, plan_job: int) -> None:
    """What the worker does, synchronously: the plan job creates the stages, then each next stage runs once."""
    run_job(plan_job, plan.run)
    for _ in range(20):
        jobs = next_to_send(round_id)
        if not jobs:
            return
        for job_id, kind in jobs:
            run_job(job_id, PIPELINES[kind])


def _state(project_id: int) -> dict[str, int]:
    with session_scope() as session:
        states = session.scalars(select(Image.state).where(Image.project_id == project_id)).all()
    return {s: states.count(s) for s in set(states)}


def _jobs(round_id: int) -> list[Job]:
    with session_scope() as session:
        jobs = plan.stage_jobs(session, round_id)
        for j in jobs:
            session.expunge(j)
        return jobs


@pytest.mark.slow
def test_cold_start_in_shards_queues_the_batch(sqlite_database, world: Path) -> None:
    project_id = _project(world, score_shard_size=3)
    round_id, job_id = make_round(project_id, 2, strategy="diversity")
    _drive(round_id, job_id)
    jobs = _jobs(round_id)
    kinds = ["plan", "pretrain_depth", "score", "score", "score", "select", "predict", "queue"]
    assert [(j.kind, j.status) for j in jobs] == [(kind, "succeeded") for kind in kinds]
    assert [j.params["start"] for j in jobs if j.kind == JobKind.SCORE] == [0, 3, 6]
    assert [j.attempt for j in jobs] == [1] * 8  # each stage ran once
    assert _state(project_id) == {ImageState.QUEUED: 2, ImageState.UNLABELED: 6}
    with session_scope() as session:  # the cold start's batch: superpixels for click-fill, no pre-label yet
        queued = session.scalars(select(Image).where(Image.queued_round_id == round_id)).all()
        assert all(i.prelabel_path is None and storage.absolute(i.segments_path).is_file() for i in queued)
        round_ = session.get(Round, round_id)
        assert round_ is not None and round_.status == "succeeded" and round_.metrics["queued"] == 2
        ranks = session.scalars(select(Score.rank).where(Score.round_id == round_id, Score.rank.is_not(None))).all()
        assert sorted(ranks) == [0, 1]
        assert len(session.scalars(select(Score).where(Score.round_id == round_id)).all()) == 8
    features = storage.absolute(storage.round_dir(project_id, 0) / "features.npy")
    assert features.is_file()  # the round's features live in storage, not in rows

    # A second round while the first batch is still queued: those images are centres, not candidates.
    round1, job1 = make_round(project_id, 2, strategy="diversity")
    _drive(round1, job1)
    with session_scope() as session:
        first = set(session.scalars(select(Image.id).where(Image.queued_round_id == round_id)))
        scored = session.scalars(select(Score).where(Score.round_id == round1)).all()
        assert len(scored) == 6 and not {s.image_id for s in scored} & first
        assert all(s.diversity > 0 for s in scored if s.rank is not None)  # no seed image: distances to the pending
    assert _state(project_id) == {ImageState.QUEUED: 4, ImageState.UNLABELED: 4}


def test_too_few_images_is_refused_before_any_work(sqlite_database, world: Path) -> None:
    project_id = _project(world)
    round_id, job_id = make_round(project_id, 9, strategy="diversity")
    _drive(round_id, job_id)
    with session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == JobStatus.FAILED
        assert job.message == "round 0 needs 9 unlabeled pool images, but the project has only 8"
        assert len(session.scalars(select(Job).where(Job.round_id == round_id)).all()) == 1  # nothing planned
    assert _state(project_id) == {ImageState.UNLABELED: 8}


def test_gpu_only_setting_without_gpu_fails_the_round(sqlite_database, world: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("needs a machine without a GPU")
    project_id = _project(world, device="cuda")
    round_id, job_id = make_round(project_id, 2, strategy="diversity")
    _drive(round_id, job_id)
    depth = next(j for j in _jobs(round_id) if j.kind == JobKind.PRETRAIN_DEPTH)
    assert depth.status == JobStatus.FAILED and "GPU only" in (depth.message or "")
    assert depth.error is not None and "Traceback" not in depth.error  # a user error, not a crash
    with session_scope() as session:
        round_ = session.get(Round, round_id)
        assert round_ is not None and round_.status == "failed" and "GPU only" in (round_.error or "")
    assert _state(project_id) == {ImageState.UNLABELED: 8}


def test_broken_pool_image_names_the_file(sqlite_database, world: Path) -> None:
    project_id = _project(world)
    with session_scope() as session:
        victim = session.scalars(select(Image).where(Image.project_id == project_id).order_by(Image.id)).all()[3]
        path = storage.absolute(victim.path)
    path.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    round_id, job_id = make_round(project_id, 2, strategy="diversity")
    _drive(round_id, job_id)
    failed = [j for j in _jobs(round_id) if j.status == JobStatus.FAILED]
    assert len(failed) == 1 and str(path) in (failed[0].message or ""), failed
    assert _state(project_id) == {ImageState.UNLABELED: 8}


def test_a_quiet_round_gets_its_next_stage_sent_again(sqlite_database, world: Path, monkeypatch) -> None:
    import worker.sweeps as tasks
    from service.db.base import utcnow

    project_id = _project(world)
    round_id, job_id = make_round(project_id, 2, strategy="diversity")
    run_job(job_id, plan.run)  # plans the stages, but their send is lost: the round runs, no job is running
    assert [(j.kind, j.status) for j in _jobs(round_id)][1:3] == [("pretrain_depth", "queued"), ("score", "queued")]
    sent: list[int] = []
    monkeypatch.setattr(tasks, "advance", lambda rid: sent.append(rid) or [])
    tasks._nudge_quiet_rounds(utcnow().timestamp() - 3600)  # activity after the cutoff: not quiet
    assert sent == []
    tasks._nudge_quiet_rounds(utcnow().timestamp() + 1)  # silent since the cutoff: its next send was lost
    assert sent == [round_id]


@pytest.mark.slow
def test_embedded_sqlite_broker_joins_scoring_shards_with_a_chord(sqlite_database, world: Path, tmp_path: Path) -> None:
    """The embedded default (SQLite database + kombu's SQLite broker): the chord's result backend is a SQLite file."""
    from service.task_queue import enqueue
    from tests.worker.procs import Worker, wait_for, worker_env

    env = worker_env(data_dir=str(sqlite_database.data_dir), database_url=sqlite_database.url, env="test",
                     secret_key="test-secret-key", admin_token="test-admin-token")  # fmt: skip
    env.pop("DEPTHAL_BROKER_URL", None)
    project_id = _project(world, score_shard_size=4)
    round_id, job_id = make_round(project_id, 2, strategy="diversity+difficulty")
    worker = Worker(env, tmp_path / "worker.log", app="worker.celery_app").start()
    try:
        enqueue(JobKind.PLAN, job_id)

        def finished() -> str | None:
            with session_scope() as session:
                status = session.get(Round, round_id).status
            return status if status in ("succeeded", "failed", "cancelled") else None

        status = wait_for(finished, timeout=240, every=0.2, what="the round")
        assert status == "succeeded", worker.log.read_text()[-3000:]
    finally:
        worker.stop()
    assert "sent 2 scoring shards as a chord" in worker.log.read_text()
    assert (sqlite_database.data_dir / "results.sqlite").exists()
    assert _state(project_id) == {ImageState.QUEUED: 2, ImageState.UNLABELED: 6}
