"""The job runner in-process, on SQLite and PostgreSQL: state transitions, failures, duplicates, cancellation."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from service.db.base import utcnow
from service.db.session import session_scope
from service.db.tables import Job, JobStatus, Round, RoundStatus
from tests.factories import load_job, make_job, make_project, make_round
from worker import runner
from worker.runner import JobCancelled, JobContext, PipelineError, run_job


def test_success_moves_queued_to_succeeded_with_progress_and_result(database) -> None:
    job_id = make_job(make_project(0))
    seen: list[tuple[str, str | None, float]] = []

    def pipeline(ctx: JobContext) -> dict:
        row = load_job(ctx.job_id)
        seen.append((row.status, row.stage, row.progress))
        ctx.progress("half", 0.5, "halfway")
        row = load_job(ctx.job_id)
        seen.append((row.status, row.stage, row.progress))
        return {"answer": 42}

    assert load_job(job_id).status == JobStatus.QUEUED
    assert run_job(job_id, pipeline, task_id="t-1") == JobStatus.SUCCEEDED
    assert seen == [(JobStatus.RUNNING, "starting", 0.0), (JobStatus.RUNNING, "half", 0.5)]
    job = load_job(job_id)
    assert (job.status, job.stage, job.progress, job.attempt) == (JobStatus.SUCCEEDED, "done", 1.0, 1)
    assert job.result == {"answer": 42} and job.celery_task_id == "t-1" and job.error is None
    assert job.started_at <= job.finished_at


def test_failure_records_traceback_summary_and_fails_the_round(database) -> None:
    project_id = make_project(0)
    round_id, job_id = make_round(project_id, 2)

    def pipeline(ctx: JobContext) -> None:
        ctx.progress("loading", 0.25)
        {}["missing-key"]

    assert run_job(job_id, pipeline) == JobStatus.FAILED
    job = load_job(job_id)
    assert job.status == JobStatus.FAILED and job.stage == "loading" and job.progress == 0.25
    assert job.error.startswith("KeyError: 'missing-key'")
    assert "test_runner.py" in job.error and "in pipeline" in job.error  # the innermost frame is named
    assert job.finished_at is not None
    with session_scope() as session:
        round_ = session.get(Round, round_id)
        assert round_.status == RoundStatus.FAILED and round_.error == job.error


def test_pipeline_error_is_recorded_without_traceback(database) -> None:
    job_id = make_job(make_project(0))

    def pipeline(ctx: JobContext) -> None:
        raise PipelineError("image a.png is broken")

    assert run_job(job_id, pipeline) == JobStatus.FAILED
    job = load_job(job_id)
    assert job.error == "worker.runner.PipelineError: image a.png is broken"
    assert job.message == "image a.png is broken"


@pytest.mark.parametrize("final", [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED])
def test_finished_job_delivered_again_is_not_run(database, final: JobStatus) -> None:
    job_id = make_job(make_project(0))
    with session_scope() as session:
        session.execute(update(Job).where(Job.id == job_id).values(status=final, attempt=1))
    calls = []
    assert run_job(job_id, calls.append) == final
    assert calls == [] and load_job(job_id).attempt == 1


def test_second_delivery_after_success_does_not_run_again(database) -> None:
    job_id = make_job(make_project(0))
    calls = []
    assert run_job(job_id, calls.append) == JobStatus.SUCCEEDED
    finished = load_job(job_id).finished_at
    assert run_job(job_id, calls.append) == JobStatus.SUCCEEDED
    assert len(calls) == 1 and load_job(job_id).attempt == 1 and load_job(job_id).finished_at == finished


def test_running_job_with_live_heartbeat_is_left_alone_and_stale_one_is_rerun(database) -> None:
    job_id = make_job(make_project(0))
    with session_scope() as session:
        session.execute(
            update(Job).where(Job.id == job_id).values(status=JobStatus.RUNNING, attempt=1, heartbeat_at=utcnow())
        )
    calls = []
    assert run_job(job_id, calls.append) == JobStatus.RUNNING  # another worker has it
    assert calls == [] and load_job(job_id).attempt == 1
    with session_scope() as session:  # that worker died a while ago
        session.execute(update(Job).where(Job.id == job_id).values(heartbeat_at=utcnow() - timedelta(hours=1)))
    assert run_job(job_id, calls.append) == JobStatus.SUCCEEDED
    assert len(calls) == 1 and load_job(job_id).attempt == 2


def test_cancellation_is_noticed_at_the_next_progress_call(database) -> None:
    project_id = make_project(0)
    round_id, job_id = make_round(project_id, 2)
    reached = []

    def pipeline(ctx: JobContext) -> None:
        ctx.progress("working", 0.1)
        with session_scope() as session:  # what the API's cancel route does
            session.execute(update(Job).where(Job.id == ctx.job_id).values(status=JobStatus.CANCELLED))
        for k in range(1000):
            ctx.progress("working", 0.1 + k / 2000)  # throttled: most calls only re-read the status
            reached.append(k)

    assert run_job(job_id, pipeline) == JobStatus.CANCELLED
    assert reached == []  # the first progress call after the cancel stopped it
    job = load_job(job_id)
    assert job.status == JobStatus.CANCELLED and job.finished_at is not None
    with session_scope() as session:
        assert session.get(Round, round_id).status == RoundStatus.CANCELLED


def test_finishing_refuses_a_cancelled_job_and_rolls_back(database) -> None:
    job_id = make_job(make_project(0))

    def pipeline(ctx: JobContext) -> None:
        with session_scope() as session:
            session.execute(update(Job).where(Job.id == ctx.job_id).values(status=JobStatus.CANCELLED))
        with ctx.finishing({"written": True}):
            raise AssertionError("must not be reached")

    assert run_job(job_id, pipeline) == JobStatus.CANCELLED
    assert load_job(job_id).result == {}


def test_progress_writes_are_throttled(database, monkeypatch: pytest.MonkeyPatch) -> None:
    job_id = make_job(make_project(0))
    writes = []
    real_update = runner.update

    def counting_update(*args, **kwargs):  # type: ignore[no-untyped-def]
        writes.append(1)
        return real_update(*args, **kwargs)

    monkeypatch.setattr(runner, "update", counting_update)

    elapsed = []

    def pipeline(ctx: JobContext) -> None:
        start = time.monotonic()
        for k in range(500):
            ctx.progress("tight loop", k / 500)
        ctx.progress("tight loop", 1.0)
        elapsed.append(time.monotonic() - start)

    assert run_job(job_id, pipeline) == JobStatus.SUCCEEDED
    # The first call, the final 1.0, and one timed write per interval (each call also reads the status, which
    # takes a while on a busy machine); never one per call.
    assert 2 <= len(writes) <= 3 + elapsed[0] / runner.WRITE_EVERY_SECONDS
    assert len(writes) < 100


def test_progress_outside_a_running_job_raises(database) -> None:
    job_id = make_job(make_project(0))
    ctx = JobContext(job_id, 1, None, "validate_images", {}, 1)
    with pytest.raises(JobCancelled):
        ctx.progress("x", 0.5)  # the job is still queued: nobody claimed it


def test_a_worker_taken_for_dead_stops_and_leaves_the_row_to_the_newer_attempt(database) -> None:
    project_id = make_project(0)
    round_id, job_id = make_round(project_id, 2)
    reached = []

    def pipeline(ctx: JobContext) -> None:
        ctx.progress("working", 0.1)
        with session_scope() as session:  # another worker found the heartbeat stale and started attempt 2
            session.execute(update(Job).where(Job.id == ctx.job_id).values(attempt=2, stage="attempt 2"))
        ctx.progress("working", 0.2)
        reached.append(True)

    assert run_job(job_id, pipeline) == runner.SUPERSEDED
    assert reached == []
    job = load_job(job_id)
    assert (job.status, job.attempt, job.stage, job.finished_at) == (JobStatus.RUNNING, 2, "attempt 2", None)
    with session_scope() as session:
        assert session.get(Round, round_id).status == RoundStatus.RUNNING
