"""Thin Celery tasks: job id in, the job's status out. All state lives in the `job` row (worker/runner.py).

The API sends these by name (`service.task_queue.TaskName`), so it never imports this module.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery import Task
from celery.signals import worker_ready
from sqlalchemy import select

from service.config import get_settings
from service.db.base import utcnow
from service.db.session import session_scope
from service.db.tables import Job, JobKind, JobStatus, Round, RoundStatus
from service.task_queue import TaskName, enqueue
from worker import pipelines
from worker.celery_app import app
from worker.pipelines import rounds, validate_images
from worker.runner import JobContext, PipelineError, run_job

log = logging.getLogger(__name__)
SWEEP_MAX_SECONDS = 30.0  # abandoned jobs and overdue leases are looked for at least this often


@app.task(name=TaskName.VALIDATE_IMAGES, bind=True)
def validate_images_task(self: Task, job_id: int) -> str:
    return run_job(job_id, validate_images.run, task_id=self.request.id)


@app.task(name=TaskName.RUN_ROUND, bind=True)
def run_round_task(self: Task, job_id: int) -> str:
    status = run_job(job_id, rounds.run, task_id=self.request.id)
    _advance_after(job_id)
    return status


def _by_kind(ctx: JobContext) -> dict[str, Any] | None:
    pipeline = pipelines.BY_KIND.get(ctx.kind)
    if pipeline is None:
        raise PipelineError(f"no pipeline for job kind {ctx.kind!r} yet")
    return pipeline(ctx)


@app.task(name=TaskName.RUN_JOB, bind=True)
def run_job_task(self: Task, job_id: int) -> str:
    """Generic entry: the pipeline is chosen by the job's kind. A round's stage sends the round's next stage."""
    status = run_job(job_id, _by_kind, task_id=self.request.id)
    _advance_after(job_id)
    return status


@app.task(name=TaskName.SCORE_SHARD, bind=True, ignore_result=False)
def score_shard_task(self: Task, job_id: int) -> str:
    """One pool-scoring shard, a member of the chord's group: its result is what the chord counts."""
    return run_job(job_id, _by_kind, task_id=self.request.id)


@app.task(name=TaskName.ADVANCE_ROUND)
def advance_round_task(round_id: int) -> list[int]:
    """The chord's body (after the last shard), and a plain "send what is next" for a round."""
    return advance(round_id)


def _advance_after(job_id: int) -> None:
    """After a round's job succeeded (or deferred: a select job waiting for earlier stages), send what is next."""
    with session_scope() as session:
        job = session.get(Job, job_id)
        ok = job is not None and job.status in (JobStatus.SUCCEEDED, JobStatus.QUEUED)
        round_id = job.round_id if ok else None
    if round_id is not None:
        advance(round_id)


def advance(round_id: int) -> list[int]:
    """Send the round's next stage (round_plan.next_to_send). Several scoring shards go out as a Celery group joined
    by a chord whose body advances the round again; everything else is sent by name like the API sends jobs."""
    from celery import chord, group

    from worker.pipelines import round_plan

    jobs = round_plan.next_to_send(round_id)
    if not jobs:
        return []
    queue = get_settings().gpu_queue
    if len(jobs) > 1:
        header = group(score_shard_task.si(job_id).set(queue=queue) for job_id, _ in jobs)
        chord(header)(advance_round_task.si(round_id).set(queue=queue))
        log.info("round %s: sent %d scoring shards as a chord", round_id, len(jobs))
    else:
        job_id, kind = jobs[0]
        enqueue(TaskName.RUN_ROUND if kind == JobKind.SELECT else TaskName.RUN_JOB, job_id)
        log.info("round %s: sent job %s (%s)", round_id, job_id, kind)
    return [job_id for job_id, _ in jobs]


def task_for(job: Job) -> TaskName:
    if job.kind == JobKind.VALIDATE_IMAGES:
        return TaskName.VALIDATE_IMAGES
    if job.kind == JobKind.SELECT and job.round_id is not None:
        return TaskName.RUN_ROUND
    return TaskName.RUN_JOB


def requeue_abandoned_jobs() -> list[int]:
    """Send again every `running` job whose heartbeat went stale: its worker died. Redis would redeliver such a
    task by itself after the visibility timeout; kombu's SQLite transport never does. A duplicate is harmless:
    the runner starts a job only once."""
    settings = get_settings()
    cutoff = utcnow().timestamp() - settings.job_stale_seconds
    with session_scope() as session:
        running = session.scalars(select(Job).where(Job.status == JobStatus.RUNNING)).all()
        stale = [j for j in running if (j.heartbeat_at or j.started_at or utcnow()).timestamp() < cutoff]
        tasks = [(j.id, task_for(j)) for j in stale]
    for job_id, task in tasks:
        log.warning("job %s was left running by a dead worker; sending %s again", job_id, task)
        enqueue(task, job_id)
    _nudge_quiet_rounds(cutoff)
    return [job_id for job_id, _ in tasks]


def _nudge_quiet_rounds(cutoff: float) -> None:
    """A running round with no running job and no activity since `cutoff` lost the send of its next stage (a worker
    died between a stage's commit and the send): send it again."""
    with session_scope() as session:
        quiet = []
        for round_ in session.scalars(select(Round).where(Round.status == RoundStatus.RUNNING)):
            jobs = session.scalars(select(Job).where(Job.round_id == round_.id)).all()
            if any(j.status == JobStatus.RUNNING for j in jobs):
                continue
            last = max(((j.finished_at or j.heartbeat_at or j.created_at).timestamp() for j in jobs), default=0.0)
            if last < cutoff:
                quiet.append(round_.id)
    for round_id in quiet:
        log.warning("round %s went quiet; sending its next stage again", round_id)
        advance(round_id)


def expire_overdue_leases() -> int:
    """Return the images of overdue leases to the queue. `next` does this lazily; doing it here too keeps the
    progress counts (leased / queued) true while nobody asks for work."""
    from service.queue import expire_leases

    with session_scope() as session:
        return expire_leases(session)


def _sweep_forever(every: float) -> None:
    while True:
        for sweep in (requeue_abandoned_jobs, expire_overdue_leases):
            try:
                sweep()
            except Exception:
                log.exception("periodic %s failed", sweep.__name__)
        time.sleep(every)


@worker_ready.connect
def _on_worker_ready(**_: object) -> None:
    # At start, then periodically: a job whose worker died mid-run goes stale only after `job_stale_seconds`,
    # usually after the replacement worker has started.
    every = min(get_settings().job_stale_seconds, SWEEP_MAX_SECONDS)
    threading.Thread(target=_sweep_forever, args=(every,), name="periodic-sweeps", daemon=True).start()
