"""The job path with a real `celery worker` process (solo pool, queue gpu): PostgreSQL + the test Redis, and once
on the embedded SQLite database + SQLite broker. Jobs are sent by name exactly as the API sends them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select, update

from service import storage
from service.db.session import session_scope
from service.db.tables import Image, ImageState, Job, JobKind, JobStatus, Round, RoundStatus, Score
from service.task_queue import enqueue
from tests.conftest import REDIS_URL, Database, _reset_caches
from tests.factories import encode_video, load_job, make_job, make_project, make_round, solid_png, synth_frames
from tests.worker.procs import Worker, wait_for, worker_env

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

SETTINGS = {
    "env": "test",
    "secret_key": "test-secret-key",
    "admin_token": "test-admin-token",
    "job_heartbeat_seconds": "0.3",
    "job_stale_seconds": "2",
    "broker_visibility_timeout_seconds": "4",
}


@pytest.fixture(scope="module")
def redis_worker(_postgres_migrated: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    redis.Redis.from_url(REDIS_URL).flushdb()
    data_dir = tmp_path_factory.mktemp("worker-data")
    env = worker_env(data_dir=str(data_dir), database_url=_postgres_migrated, broker_url=REDIS_URL, **SETTINGS)
    worker = Worker(env, data_dir / "worker.log").start()
    worker.data_dir = data_dir  # type: ignore[attr-defined]
    yield worker
    worker.stop()


@pytest.fixture
def pg(postgres_database: Database, redis_worker: Worker, monkeypatch: pytest.MonkeyPatch) -> Worker:
    """This test's process configured like the worker: same database, broker and storage."""
    monkeypatch.setenv("DEPTHAL_DATA_DIR", str(redis_worker.data_dir))  # type: ignore[attr-defined]
    monkeypatch.setenv("DEPTHAL_BROKER_URL", REDIS_URL)
    for key, value in SETTINGS.items():
        monkeypatch.setenv(f"DEPTHAL_{key.upper()}", value)
    _reset_caches()
    return redis_worker


def _queued(project_id: int) -> list[Image]:
    with session_scope() as session:
        rows = session.scalars(select(Image).where(Image.project_id == project_id, Image.state == ImageState.QUEUED))
        return list(rows)


def _finished(job_id: int) -> Job | None:
    job = load_job(job_id)
    return job if job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED) else None


def test_round_goes_queued_running_succeeded(pg: Worker) -> None:
    project_id = make_project(8)
    round_id, job_id = make_round(project_id, 3, strategy="slow_random", steps=10, sleep=0.1)
    assert load_job(job_id).status == JobStatus.QUEUED
    enqueue(JobKind.PLAN, job_id)
    running = wait_for(lambda: (j := load_job(job_id)).status == JobStatus.RUNNING and 0 < j.progress < 1 and j, 30)
    assert running.stage == "thinking slowly" and running.attempt == 1 and running.celery_task_id
    done = wait_for(lambda: _finished(job_id), 30, what="the round to finish")
    assert (done.status, done.progress, done.stage, done.attempt) == (JobStatus.SUCCEEDED, 1.0, "done", 1)
    assert sorted(i.id for i in _queued(project_id)) == sorted(done.result["queued"])
    with session_scope() as session:
        assert session.get(Round, round_id).status == RoundStatus.SUCCEEDED


def test_validate_images_succeeds_and_a_broken_image_fails_the_job_naming_it(pg: Worker) -> None:
    good = make_project(3, name="good", neighbours=True)
    bad = make_project(3, name="bad")
    with session_scope() as session:
        broken = session.scalars(select(Image).where(Image.project_id == bad).order_by(Image.id)).all()[2]
        storage.absolute(broken.path).write_bytes(solid_png(seed=5)[:50])  # truncated upload
    good_job, bad_job = make_job(good), make_job(bad)
    enqueue(JobKind.VALIDATE_IMAGES, good_job)
    enqueue(JobKind.VALIDATE_IMAGES, bad_job)
    ok = wait_for(lambda: _finished(good_job), 30)
    assert ok.status == JobStatus.SUCCEEDED and ok.result == {"images": 3, "frames": 9, "thumbnails": 3}
    failed = wait_for(lambda: _finished(bad_job), 30)
    assert failed.status == JobStatus.FAILED and failed.progress == 1.0  # it looked at every image
    assert f"{broken.name} ({broken.path}): cannot decode" in failed.error


def test_video_import_runs_in_the_worker(pg: Worker) -> None:
    """An uploaded video's `import_frames` job, sent by name like the API sends it, decoded by the worker process."""
    from service.frame_imports import upload_target
    from service.imports import sha256_of
    from service.schemas import FrameOptions

    pid = make_project(0, name="video")
    relative = upload_target(pid, "drive.mp4")
    storage.absolute(relative).parent.mkdir(parents=True)
    video = encode_video(storage.absolute(relative), synth_frames(8))
    source = {"kind": "video", "name": "drive.mp4", "checksum": sha256_of(video), "path": relative.as_posix(),
              "uploaded": True}  # fmt: skip
    job_id = make_job(pid, JobKind.IMPORT_FRAMES, sources=[source], options=FrameOptions(pool_every=4).model_dump())
    enqueue(JobKind.IMPORT_FRAMES, job_id)
    job = wait_for(lambda: _finished(job_id), 60)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.result["frames"] == 8 and job.result["pool_images"] == 2 and job.result["warnings"]
    assert len(_pool_with_neighbours(pid)) == 2


def _pool_with_neighbours(project_id: int) -> list[Image]:
    with session_scope() as session:
        rows = session.scalars(
            select(Image).where(
                Image.project_id == project_id,
                Image.prev_path.is_not(None),
                Image.next_path.is_not(None),
                Image.sequence_id.is_not(None),
            )
        )
        return list(rows)


def test_duplicate_delivery_does_not_rerun_a_succeeded_job(pg: Worker) -> None:
    project_id = make_project(6)
    _, job_id = make_round(project_id, 2)
    sentinel = make_job(project_id)
    enqueue(JobKind.PLAN, job_id)
    enqueue(JobKind.PLAN, job_id)  # the same task delivered twice
    enqueue(JobKind.VALIDATE_IMAGES, sentinel)  # one solo worker, FIFO: done after both copies
    wait_for(lambda: _finished(sentinel), 30)
    job = load_job(job_id)
    assert job.status == JobStatus.SUCCEEDED and job.attempt == 1
    assert f"job {job_id} is already succeeded; not running it again" in pg.log.read_text()
    assert len(_queued(project_id)) == 2


def test_cancel_stops_a_running_round(pg: Worker) -> None:
    project_id = make_project(5)
    round_id, job_id = make_round(project_id, 2, strategy="slow_random", steps=200, sleep=0.05)
    enqueue(JobKind.PLAN, job_id)
    wait_for(lambda: load_job(job_id).progress > 0, 30, what="the round to make progress")
    with session_scope() as session:  # the API's cancel route
        session.execute(update(Job).where(Job.id == job_id).values(status=JobStatus.CANCELLED))
    job = wait_for(lambda: (j := load_job(job_id)).finished_at is not None and j, 10, what="the worker to stop")
    assert job.status == JobStatus.CANCELLED and job.progress < 0.5
    assert _queued(project_id) == []
    with session_scope() as session:
        assert session.get(Round, round_id).status == RoundStatus.CANCELLED


def test_worker_killed_mid_round_is_redelivered_and_completes_once(pg: Worker) -> None:
    project_id = make_project(8)
    round_id, job_id = make_round(project_id, 4, strategy="slow_random", steps=30, sleep=0.1)
    enqueue(JobKind.PLAN, job_id)
    wait_for(lambda: load_job(job_id).progress > 0.1, 30, what="the round to be mid-way")
    pg.kill()  # SIGKILL: no warm shutdown, the task stays unacknowledged
    assert load_job(job_id).status == JobStatus.RUNNING and _queued(project_id) == []
    pg.start()
    done = wait_for(lambda: _finished(job_id), 60, every=0.2, what="the redelivered round")
    assert done.status == JobStatus.SUCCEEDED and done.attempt == 2
    # Both recovery paths deliver it (the worker's stale-job sweep, and Redis once the visibility timeout has
    # passed); wait until the killed worker's unacknowledged copy is back, consumed and acknowledged.
    wait_for(_redis_idle, 20, every=0.2, what="the unacknowledged copy to be drained")
    assert load_job(job_id).attempt == 2
    queued = _queued(project_id)
    with session_scope() as session:
        n_scores = session.scalar(select(func.count()).select_from(Score).where(Score.round_id == round_id))
    assert len(queued) == 4 and n_scores == 4 and sorted(i.id for i in queued) == sorted(done.result["queued"])


def _redis_idle() -> bool:
    r = redis.Redis.from_url(REDIS_URL)
    return r.llen("gpu") == 0 and r.hlen("unacked") == 0


def test_embedded_sqlite_database_and_broker(sqlite_database: Database, tmp_path: Path) -> None:
    env = worker_env(data_dir=str(sqlite_database.data_dir), database_url=sqlite_database.url, **SETTINGS)
    env.pop("DEPTHAL_BROKER_URL", None)  # the embedded default: kombu's SQLite transport under the data dir
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        project_id = make_project(6, neighbours=True)
        validate = make_job(project_id)
        _, plan_job = make_round(project_id, 2)
        enqueue(JobKind.VALIDATE_IMAGES, validate)
        enqueue(JobKind.PLAN, plan_job)
        assert wait_for(lambda: _finished(validate), 30).status == JobStatus.SUCCEEDED
        assert wait_for(lambda: _finished(plan_job), 30).status == JobStatus.SUCCEEDED
        assert len(_queued(project_id)) == 2
        assert (sqlite_database.data_dir / "broker.sqlite").exists()
    finally:
        worker.stop()
