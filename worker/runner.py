"""The job runner: the one place that moves a `job` row through its states.

A Celery task hands `run_job` a job id and a pipeline. The runner

- starts the job in one short transaction: skips it when it already finished (a task delivered twice), skips it
  when another worker is running it right now, and otherwise marks it `running` and counts the attempt. A job
  found `running` whose heartbeat went stale lost its worker (acks_late redelivery after a crash) and runs again
  as a new attempt;
- gives the pipeline a `JobContext` whose `progress(stage, fraction, message)` writes into the row (throttled) and
  raises `JobCancelled` once the API has cancelled the job;
- keeps `heartbeat_at` fresh from a background thread while the pipeline works;
- records the outcome: `succeeded` with the pipeline's result, `failed` with a traceback summary, or `cancelled`.
  A job of a round takes its round along on failure and cancellation.

The attempt number fences attempts: progress writes, heartbeats, `finishing` and the outcome all require the
row's attempt to be this worker's. A worker taken for dead that is in fact still going stops at its next progress
call and leaves the row to the newer attempt.

Pipelines keep transactions short (on SQLite every transaction holds the write lock) and write their final
results inside `JobContext.finishing()`, which marks the job succeeded in the same commit: a task redelivered
after that commit finds the job finished and does nothing, so results are never written twice.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.config import get_settings
from service.db.base import utcnow
from service.db.session import session_scope
from service.db.tables import Job, JobStatus, Round, RoundStatus

log = logging.getLogger(__name__)

FINISHED = {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED}
SUPERSEDED = "superseded"  # run_job's answer when a newer attempt took the job over from this worker
WRITE_EVERY_SECONDS = 0.5  # progress rows are written at most this often (plus on stage changes and at the end)
ERROR_MAX_CHARS = 4000


class JobCancelled(Exception):
    """Raised inside a pipeline (by `progress`) once the job has been cancelled."""


class PipelineError(Exception):
    """A failure the user can act on (bad input, too few images): recorded without a traceback."""


@dataclass
class JobContext:
    """What a pipeline gets: the job's identity and parameters, and the progress callback."""

    job_id: int
    project_id: int
    round_id: int | None
    kind: str
    params: dict[str, Any]
    attempt: int
    _stage: str | None = field(default=None, repr=False)
    _last_write: float = field(default=0.0, repr=False)
    _finished: bool = field(default=False, repr=False)
    result: dict[str, Any] = field(default_factory=dict)

    def progress(self, stage: str, fraction: float, message: str | None = None) -> None:
        """Report `fraction` (0..1) of `stage` done. Raises `JobCancelled` when the job was cancelled.

        Every call reads the job's status (one indexed SELECT); the row itself is written at most every
        `WRITE_EVERY_SECONDS`, on a new stage, and at fraction 1."""
        fraction = min(max(float(fraction), 0.0), 1.0)
        now = time.monotonic()
        due = stage != self._stage or fraction >= 1.0 or now - self._last_write >= WRITE_EVERY_SECONDS
        if due:
            self._stage, self._last_write = stage, now
            with session_scope() as session:
                changed = session.execute(
                    update(Job)
                    .where(Job.id == self.job_id, Job.status == JobStatus.RUNNING, Job.attempt == self.attempt)
                    .values(stage=stage, progress=fraction, message=message, heartbeat_at=utcnow())
                ).rowcount
            if not changed:
                raise JobCancelled(f"job {self.job_id} attempt {self.attempt} is no longer running")
        else:
            with session_scope() as session:
                row = session.execute(select(Job.status, Job.attempt).where(Job.id == self.job_id)).one()
            if row.status != JobStatus.RUNNING or row.attempt != self.attempt:
                raise JobCancelled(f"job {self.job_id} is {row.status} (attempt {row.attempt})")

    @contextmanager
    def finishing(self, result: dict[str, Any] | None = None) -> Iterator[Session]:
        """The pipeline's final transaction. The job row is locked and must still be running; the job is marked
        succeeded in the same commit as whatever the pipeline writes here."""
        with session_scope() as session:
            job = session.get(Job, self.job_id, with_for_update=True)
            if job is None or job.status != JobStatus.RUNNING or job.attempt != self.attempt:
                raise JobCancelled(f"job {self.job_id} attempt {self.attempt} is no longer running")
            yield session
            if result is not None:
                self.result = result
            _mark_succeeded(job, self.result)
        self._finished = True


Pipeline = Callable[[JobContext], dict[str, Any] | None]


def _mark_succeeded(job: Job, result: dict[str, Any]) -> None:
    job.status = JobStatus.SUCCEEDED
    job.stage = "done"
    job.progress = 1.0
    job.result = result
    job.finished_at = job.heartbeat_at = utcnow()


def error_summary(exc: BaseException, frames: int = 6) -> str:
    """`Type: message` plus the innermost frames, short enough for a row and a screen."""
    head = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    if isinstance(exc, PipelineError):
        return head
    stack = traceback.extract_tb(exc.__traceback__)[-frames:]
    lines = [f"  {f.filename}:{f.lineno} in {f.name}: {f.line or ''}".rstrip() for f in stack]
    text = "\n".join([head, "Traceback (innermost last):", *lines])
    return text if len(text) <= ERROR_MAX_CHARS else text[: ERROR_MAX_CHARS - 3] + "..."


def _start(job_id: int, task_id: str | None) -> JobContext | str:
    """Claim the job, or return why not (its status) when it must not run here."""
    settings = get_settings()
    with session_scope() as session:
        job = session.get(Job, job_id, with_for_update=True)
        if job is None:
            log.warning("job %s does not exist; dropping the task", job_id)
            return "missing"
        if job.status in FINISHED:
            log.info("job %s is already %s; not running it again", job_id, job.status)
            return job.status
        now = utcnow()
        if job.status == JobStatus.RUNNING:
            beat = job.heartbeat_at or job.started_at
            if beat is not None and now - beat < timedelta(seconds=settings.job_stale_seconds):
                log.info("job %s is running in another worker (heartbeat %s); skipping", job_id, beat)
                return JobStatus.RUNNING
            log.warning("job %s was running but its worker went silent at %s; running it again", job_id, beat)
        job.attempt += 1
        job.status = JobStatus.RUNNING
        job.stage, job.progress, job.message, job.error = "starting", 0.0, None, None
        job.started_at = job.heartbeat_at = now
        job.finished_at = None
        if task_id:
            job.celery_task_id = task_id
        if job.round_id is not None:
            round_ = session.get(Round, job.round_id, with_for_update=True)
            if round_ is not None and round_.status == RoundStatus.PENDING:
                round_.status = RoundStatus.RUNNING
                round_.started_at = now
        return JobContext(job.id, job.project_id, job.round_id, job.kind, dict(job.params or {}), job.attempt)


def _finish(ctx: JobContext, status: JobStatus, error: str | None = None, message: str | None = None) -> str:
    with session_scope() as session:
        job = session.get(Job, ctx.job_id, with_for_update=True)
        assert job is not None
        if job.attempt != ctx.attempt:
            # This worker was taken for dead (stale heartbeat) and the job was started again elsewhere: the row
            # belongs to the newer attempt now, whatever happened here.
            log.warning("job %s attempt %s was superseded by attempt %s", ctx.job_id, ctx.attempt, job.attempt)
            return SUPERSEDED
        if status == JobStatus.SUCCEEDED:
            if job.status == JobStatus.RUNNING:
                _mark_succeeded(job, ctx.result)
        elif job.status == JobStatus.RUNNING:  # a cancellation that raced a failure wins
            job.status, job.error, job.message = status, error, message
        job.finished_at = job.finished_at or utcnow()
        if job.round_id is not None and job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
            round_ = session.get(Round, job.round_id, with_for_update=True)
            if round_ is not None and round_.status in (RoundStatus.PENDING, RoundStatus.RUNNING):
                round_.status = RoundStatus.FAILED if job.status == JobStatus.FAILED else RoundStatus.CANCELLED
                round_.error = job.error
                round_.finished_at = utcnow()
        return job.status


class _Heartbeat(threading.Thread):
    """Touches `job.heartbeat_at` while the pipeline runs, so a long step without progress calls does not look
    like a dead worker to a redelivered copy of the task."""

    def __init__(self, job_id: int, attempt: int, every: float) -> None:
        super().__init__(name=f"heartbeat-job-{job_id}", daemon=True)
        self.job_id, self.attempt, self.every, self.stopped = job_id, attempt, every, threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            try:
                with session_scope() as session:
                    session.execute(
                        update(Job)
                        .where(Job.id == self.job_id, Job.status == JobStatus.RUNNING, Job.attempt == self.attempt)
                        .values(heartbeat_at=utcnow())
                    )
            except Exception:  # a missed beat is harmless; the next one retries
                log.warning("heartbeat of job %s failed", self.job_id, exc_info=True)


def run_job(job_id: int, pipeline: Pipeline, task_id: str | None = None) -> str:
    """Run `pipeline` for job `job_id` and return the job's status afterwards (or why it did not run)."""
    started = _start(job_id, task_id)
    if isinstance(started, str):
        return started
    ctx = started
    log.info("job %s (%s) attempt %s started", ctx.job_id, ctx.kind, ctx.attempt)
    beat = _Heartbeat(ctx.job_id, ctx.attempt, get_settings().job_heartbeat_seconds)
    beat.start()
    try:
        result = pipeline(ctx)
        if result is not None:
            ctx.result = result
        status = JobStatus.SUCCEEDED if ctx._finished else _finish(ctx, JobStatus.SUCCEEDED)
    except JobCancelled:
        status = _finish(ctx, JobStatus.CANCELLED)
    except Exception as exc:
        log.exception("job %s failed", ctx.job_id)
        status = _finish(ctx, JobStatus.FAILED, error=error_summary(exc), message=str(exc)[:500] or type(exc).__name__)
    finally:
        beat.stopped.set()
        beat.join()
    log.info("job %s finished: %s", ctx.job_id, status)
    return str(status)
