"""What the worker does besides jobs, periodically from a background thread: send again the jobs of dead workers,
nudge rounds whose next send was lost, return the images of overdue leases to the queue, and sync the projects
linked to Label Studio."""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import select

from service.config import get_settings
from service.db.base import utcnow
from service.db.session import session_scope
from service.db.tables import Job, JobKind, JobStatus, Round, RoundStatus
from service.task_queue import enqueue
from worker.round.advance import advance

log = logging.getLogger(__name__)
SWEEP_MAX_SECONDS = 30.0  # abandoned jobs and overdue leases are looked for at least this often


def requeue_abandoned_jobs() -> list[int]:
    """Send again every `running` job whose heartbeat went stale: its worker died. Redis would redeliver such a
    task by itself after the visibility timeout; kombu's SQLite transport never does. A duplicate is harmless:
    the runner starts a job only once."""
    settings = get_settings()
    cutoff = utcnow().timestamp() - settings.job_stale_seconds
    with session_scope() as session:
        running = session.scalars(select(Job).where(Job.status == JobStatus.RUNNING)).all()
        stale = [(j.id, JobKind(j.kind)) for j in running
                 if (j.heartbeat_at or j.started_at or utcnow()).timestamp() < cutoff]  # fmt: skip
    for job_id, kind in stale:
        log.warning("job %s (%s) was left running by a dead worker; sending it again", job_id, kind)
        enqueue(kind, job_id)
    _nudge_quiet_rounds(cutoff)
    return [job_id for job_id, _ in stale]


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


_last_labelstudio_sync = float("-inf")  # time.monotonic() of this process's last Label Studio sweep


def sync_labelstudio(*, force: bool = False) -> list[int]:
    """Every `labelstudio_sync_seconds` (or now, `force`): sync each project linked to Label Studio, so a missed
    webhook, a task deleted there or an outage is repaired without anyone running `depthal labelstudio sync`. Label
    Studio down is logged and tried again next time. Several workers may sync at once: a sync is idempotent (a task
    created twice for one image loses its hold and is deleted). Returns the project ids synced."""
    global _last_labelstudio_sync
    from service.db.session import stepwise_session
    from service.db.tables import Project
    from service.errors import ServiceError
    from service.labelstudio.sync import sync

    if not force and time.monotonic() - _last_labelstudio_sync < get_settings().labelstudio_sync_seconds:
        return []
    _last_labelstudio_sync = time.monotonic()
    synced = []
    with stepwise_session() as session:
        linked = [p.id for p in session.scalars(select(Project)) if (p.settings or {}).get("labelstudio")]
        for project_id in linked:
            project = session.get(Project, project_id)
            try:
                assert project is not None
                done = sync(session, project=project)
            except ServiceError as err:
                session.rollback()
                log.warning("Label Studio sync of project %s: %s", project_id, err.detail)
                continue
            synced.append(project_id)
            if done.refused:
                reasons = "; ".join(f"task {r.task}: {r.error}" for r in done.refused)
                log.warning("Label Studio sync of project %s refused %d annotations: %s", project_id,
                            len(done.refused), reasons)  # fmt: skip
    return synced


def _sweep_forever(every: float) -> None:
    while True:
        for sweep in (requeue_abandoned_jobs, expire_overdue_leases, sync_labelstudio):
            try:
                sweep()
            except Exception:
                log.exception("periodic %s failed", sweep.__name__)
        time.sleep(every)


def start_sweeping() -> threading.Thread:
    """At start, then periodically: a job whose worker died mid-run goes stale only after `job_stale_seconds`,
    usually after the replacement worker has started."""
    every = min(get_settings().job_stale_seconds, SWEEP_MAX_SECONDS)
    thread = threading.Thread(target=_sweep_forever, args=(every,), name="periodic-sweeps", daemon=True)
    thread.start()
    return thread
