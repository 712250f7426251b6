"""Sending a round's next stage: after every job of a round succeeds, after the last scoring shard (the chord's
body), and from the worker's sweeper for a round that went quiet (a worker died between a commit and the send).

Sending a job twice is harmless: the runner starts a job only once.
"""

from __future__ import annotations

import logging

from celery import chord, group

from service.config import get_settings
from service.db.session import session_scope
from service.db.tables import Job, JobKind, JobStatus, Round, RoundStatus
from service.task_queue import ADVANCE_ROUND, TASKS, enqueue
from worker.celery_app import app
from worker.round.plan import STAGE_ORDER, stage_jobs

log = logging.getLogger(__name__)


def next_to_send(round_id: int) -> list[tuple[int, JobKind]]:
    """(job id, kind) of the queued jobs of the first stage that has not succeeded, when every earlier stage has;
    [] when the round is finished, failed, or waiting for a running job."""
    with session_scope() as session:
        round_ = session.get(Round, round_id)
        if round_ is None or round_.status not in (RoundStatus.PENDING, RoundStatus.RUNNING):
            return []
        jobs = stage_jobs(session, round_id)
    for kind in STAGE_ORDER:
        stage = [j for j in jobs if j.kind == kind]
        if all(j.status == JobStatus.SUCCEEDED for j in stage):
            continue
        if any(j.status in (JobStatus.FAILED, JobStatus.CANCELLED) for j in stage):
            return []
        return [(j.id, JobKind(j.kind)) for j in stage if j.status == JobStatus.QUEUED]
    return []


def advance(round_id: int) -> list[int]:
    """Send the round's next stage. Several scoring shards go out as a Celery group joined by a chord whose body
    advances the round again; a single job is sent like the API sends jobs."""
    jobs = next_to_send(round_id)
    if not jobs:
        return []
    queue = get_settings().gpu_queue
    if len(jobs) > 1:
        header = group(app.signature(TASKS[kind], args=(job_id,), queue=queue) for job_id, kind in jobs)
        chord(header)(app.signature(ADVANCE_ROUND, args=(round_id,), queue=queue, immutable=True))
        log.info("round %s: sent %d scoring shards as a chord", round_id, len(jobs))
    else:
        job_id, kind = jobs[0]
        enqueue(kind, job_id)
        log.info("round %s: sent job %s (%s)", round_id, job_id, kind)
    return [job_id for job_id, _ in jobs]


def advance_after(job_id: int) -> None:
    """After a round's job succeeded, send what is next."""
    with session_scope() as session:
        job = session.get(Job, job_id)
        round_id = job.round_id if job is not None and job.status == JobStatus.SUCCEEDED else None
    if round_id is not None:
        advance(round_id)
