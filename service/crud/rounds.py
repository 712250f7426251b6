"""Rounds and jobs: rows the worker picks up by id. Commit first, enqueue after (style principle 6)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from contracts.settings import ProjectSettings
from contracts.strategies import StrategyName
from service.crud.progress import remaining_budget
from service.db.base import utcnow
from service.db.tables import Image, ImageRole, ImageState, Job, JobKind, JobStatus, Project, Round, RoundStatus
from service.errors import Conflict, Invalid, NotFound

ACTIVE_ROUND = (RoundStatus.PENDING, RoundStatus.RUNNING)


ACTIVE_JOB = (JobStatus.QUEUED, JobStatus.RUNNING)


def active_round(*, session: Session, project_id: int) -> Round | None:
    """The project's pending or running round, if any (at most one: `start_round` refuses a second)."""
    stmt = select(Round).where(Round.project_id == project_id, Round.status.in_(ACTIVE_ROUND)).limit(1)
    return session.scalars(stmt).first()


def start_round(*, session: Session, project: Project, batch_size: int | None, strategy: StrategyName | None) -> Round:
    """Create round k and its plan job (status pending/queued) and commit. The strategy is the request's, else the
    project's (whose default is the method's). A requested batch larger than the remaining budget is refused; a
    batch taken from the schedule is cut to it."""
    strategy = strategy or ProjectSettings.model_validate(project.settings or {}).strategy
    session.scalars(select(Project.id).where(Project.id == project.id).with_for_update()).one()  # one start at a time
    if (active := active_round(session=session, project_id=project.id)) is not None:
        raise Conflict(f"round {active.index} of project {project.id} is still {active.status}; wait or cancel it")
    last = session.scalar(select(func.max(Round.index)).where(Round.project_id == project.id))
    index = 0 if last is None else last + 1
    remaining = remaining_budget(session=session, project=project)
    if remaining == 0:
        raise Conflict(f"the label budget of {project.label_budget} is spent; no images remain to select")
    # The plan stage needs that many unlabeled pool images; refused here, not as a failed job later (issue 19).
    unlabeled = session.scalar(
        select(func.count()).where(
            Image.project_id == project.id, Image.role == ImageRole.POOL, Image.state == ImageState.UNLABELED
        )
    )
    if batch_size is None:
        schedule = project.round_schedule
        if not schedule:
            raise Invalid("no batch_size given and the project has no round schedule")
        if not unlabeled:
            raise Conflict(f"project {project.id} has no unlabeled pool images left to select from")
        batch_size = min(schedule[min(index, len(schedule) - 1)], remaining, unlabeled)
    elif batch_size > remaining:
        raise Conflict(
            f"round {index} asks for {batch_size} images but only {remaining} of the label budget "
            f"({project.label_budget}) remain"
        )
    elif batch_size > unlabeled:
        raise Conflict(
            f"round {index} asks for {batch_size} images but the project has only {unlabeled} unlabeled pool images"
        )
    round_ = Round(
        project_id=project.id,
        index=index,
        status=RoundStatus.PENDING,
        batch_size=batch_size,
        strategy=strategy,
        metrics={},
    )
    job = Job(project_id=project.id, kind=JobKind.PLAN, status=JobStatus.QUEUED, params={})
    round_.jobs.append(job)
    session.add(round_)
    session.commit()
    return round_


def create_job(*, session: Session, project: Project, kind: JobKind, params: dict[str, Any]) -> Job:
    job = Job(project_id=project.id, kind=kind, status=JobStatus.QUEUED, params=params)
    session.add(job)
    session.commit()
    return job


def record_enqueued(*, session: Session, job: Job, task_id: str) -> None:
    job.celery_task_id = task_id
    session.commit()


def record_enqueue_failure(*, session: Session, job: Job, error: str) -> None:
    """The broker refused the task: the job (and its round) fail at once instead of waiting forever."""
    now = utcnow()
    job.status, job.error, job.finished_at = JobStatus.FAILED, f"could not enqueue: {error}", now
    if job.round_id is not None:
        round_ = session.get(Round, job.round_id)
        assert round_ is not None
        round_.status, round_.error, round_.finished_at = RoundStatus.FAILED, job.error, now
    session.commit()


def get_round(*, session: Session, round_id: int) -> Round:
    round_ = session.get(Round, round_id, options=[selectinload(Round.jobs)])
    if round_ is None:
        raise NotFound(f"round {round_id} does not exist")
    return round_


def list_rounds(*, session: Session, project_id: int) -> list[Round]:
    stmt = select(Round).where(Round.project_id == project_id).options(selectinload(Round.jobs)).order_by(Round.index)
    return list(session.scalars(stmt))


def get_job(*, session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"job {job_id} does not exist")
    return job


def list_jobs(*, session: Session, project_id: int, offset: int, limit: int) -> tuple[list[Job], int]:
    where = Job.project_id == project_id
    jobs = session.scalars(select(Job).where(where).order_by(Job.id.desc()).offset(offset).limit(limit))
    return list(jobs), session.scalar(select(func.count()).select_from(Job).where(where)) or 0


def cancel_round(*, session: Session, round_id: int) -> Round:
    """Cancel a pending/running round and its unfinished jobs. The worker reads the job status and stops."""
    round_ = session.scalars(select(Round).where(Round.id == round_id).with_for_update()).first()
    if round_ is None:
        raise NotFound(f"round {round_id} does not exist")
    if round_.status not in ACTIVE_ROUND:
        raise Conflict(f"round {round_id} is already {round_.status}")
    _cancel(session, round_)
    session.commit()
    return get_round(session=session, round_id=round_id)


def cancel_job(*, session: Session, job_id: int) -> Job:
    job = session.scalars(select(Job).where(Job.id == job_id).with_for_update()).first()
    if job is None:
        raise NotFound(f"job {job_id} does not exist")
    if job.status not in ACTIVE_JOB:
        raise Conflict(f"job {job_id} is already {job.status}")
    round_ = session.get(Round, job.round_id) if job.round_id is not None else None
    if round_ is not None and round_.status in ACTIVE_ROUND:
        _cancel(session, round_)
    else:
        job.status, job.finished_at = JobStatus.CANCELLED, utcnow()
    session.commit()
    return job


def _cancel(session: Session, round_: Round) -> None:
    now = utcnow()
    round_.status, round_.finished_at = RoundStatus.CANCELLED, now
    for job in session.scalars(select(Job).where(Job.round_id == round_.id, Job.status.in_(ACTIVE_JOB))):
        job.status, job.finished_at = JobStatus.CANCELLED, now
