"""Budget arithmetic and the progress report, each a handful of grouped queries (no per-row queries)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.crud.annotations import newest_versions
from service.db.tables import (
    Annotation,
    FrameSequence,
    Image,
    ImageRole,
    ImageState,
    Job,
    JobKind,
    JobStatus,
    Lease,
    LeaseStatus,
    Project,
    Round,
    User,
)
from service.schemas import AnnotatorProgress, ProgressPublic, RoundProgress, SequencePublic, StageProgress

# Pool images in these states have been chosen for labeling and count against the budget.
SPENT_STATES = (ImageState.QUEUED, ImageState.LEASED, ImageState.LABELED)


def state_counts(*, session: Session, project_id: int) -> dict[tuple[str, str], int]:
    rows = session.execute(
        select(Image.role, Image.state, func.count())
        .where(Image.project_id == project_id)
        .group_by(Image.role, Image.state)
    ).all()
    return {(role, state): n for role, state, n in rows}


def spent_budget(*, session: Session, project: Project) -> int:
    """Pool images labeled, queued or leased: chosen for labeling, so counted against the budget."""
    counts = state_counts(session=session, project_id=project.id)
    return sum(counts.get((ImageRole.POOL.value, s.value), 0) for s in SPENT_STATES)


def remaining_budget(*, session: Session, project: Project) -> int:
    return max(project.label_budget - spent_budget(session=session, project=project), 0)


def _seconds(start: datetime | None, end: datetime | None, now: datetime) -> float | None:
    if start is None:
        return None
    return max(((end or now) - start).total_seconds(), 0.0)


def round_stages(*, session: Session, rounds: list[Round]) -> dict[int, list[StageProgress]]:
    """The jobs of the given rounds (one query), in creation order, with their run time (time per stage)."""
    if not rounds:
        return {}
    now = datetime.now(UTC)
    jobs = session.scalars(select(Job).where(Job.round_id.in_([r.id for r in rounds])).order_by(Job.id)).all()
    out: dict[int, list[StageProgress]] = {r.id: [] for r in rounds}
    for j in jobs:
        out[j.round_id].append(_stage(j, now))  # type: ignore[index]
    return out


def _stage(j: Job, now: datetime) -> StageProgress:
    return StageProgress(job_id=j.id, kind=j.kind, status=j.status, stage=j.stage, progress=j.progress,
                         message=j.message, seconds=_seconds(j.started_at, j.finished_at, now))  # fmt: skip


def project_progress(*, session: Session, project: Project) -> ProgressPublic:
    counts = state_counts(session=session, project_id=project.id)

    def pool(state: ImageState) -> int:
        return counts.get((ImageRole.POOL.value, state.value), 0)

    spent = sum(pool(s) for s in SPENT_STATES)
    rounds = list(session.scalars(select(Round).where(Round.project_id == project.id).order_by(Round.index)).all())
    stages = round_stages(session=session, rounds=rounds)
    now = datetime.now(UTC)

    newest = newest_versions(project.id)
    labeled_by = dict(
        session.execute(
            select(Annotation.annotator_id, func.count())
            .join(newest, (newest.c.image_id == Annotation.image_id) & (newest.c.version == Annotation.version))
            .group_by(Annotation.annotator_id)
        ).all()
    )
    submissions = dict(
        session.execute(
            select(Annotation.annotator_id, func.count())
            .join(Image, Image.id == Annotation.image_id)
            .where(Image.project_id == project.id)
            .group_by(Annotation.annotator_id)
        ).all()
    )
    leases: dict[tuple[int, str], int] = {
        (uid, status): n
        for uid, status, n in session.execute(
            select(Lease.annotator_id, Lease.status, func.count())
            .join(Image, Image.id == Lease.image_id)
            .where(Image.project_id == project.id)
            .group_by(Lease.annotator_id, Lease.status)
        ).all()
    }
    user_ids = {u for u in (*submissions, *(uid for uid, _ in leases)) if u is not None}
    names = dict(session.execute(select(User.id, User.name).where(User.id.in_(user_ids))).all()) if user_ids else {}
    annotators = [
        AnnotatorProgress(
            user_id=uid,
            name=names.get(uid, "?"),
            labeled=labeled_by.get(uid, 0),
            submissions=submissions.get(uid, 0),
            open_leases=leases.get((uid, LeaseStatus.OPEN.value), 0),
            expired_leases=leases.get((uid, LeaseStatus.EXPIRED.value), 0),
        )
        for uid in sorted(user_ids)
    ]
    sequences = session.scalars(select(FrameSequence).where(FrameSequence.project_id == project.id)
                                .order_by(FrameSequence.id)).all()  # fmt: skip
    importing = session.scalars(select(Job).where(
        Job.project_id == project.id, Job.kind == JobKind.IMPORT_FRAMES,
        Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING])).order_by(Job.id)).all()  # fmt: skip
    return ProgressPublic(
        importing=[_stage(j, now) for j in importing],
        sequences=len(sequences),
        frames=sum(s.frame_count for s in sequences),
        imports=[SequencePublic.model_validate(s) for s in sequences],
        budget_total=project.label_budget,
        labeled=pool(ImageState.LABELED),
        queued=pool(ImageState.QUEUED),
        leased=pool(ImageState.LEASED),
        remaining=max(project.label_budget - spent, 0),
        unlabeled=pool(ImageState.UNLABELED),
        skipped=pool(ImageState.SKIPPED),
        val_labeled=counts.get((ImageRole.VAL.value, ImageState.LABELED.value), 0),
        val_total=sum(n for (role, _), n in counts.items() if role == ImageRole.VAL.value),
        rounds=[
            RoundProgress(
                index=r.index,
                status=r.status,
                batch_size=r.batch_size,
                metrics=r.metrics,
                strategy=r.strategy,
                error=r.error,
                seconds=_seconds(r.started_at, r.finished_at, now),
                stages=stages[r.id],
            )
            for r in rounds
        ],
        annotators=annotators,
    )
