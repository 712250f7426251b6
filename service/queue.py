"""The leased annotation queue (design.md, "Annotation queue semantics").

Public functions (stable; the worker and the benchmarks call them):
- `expire_leases(session, now)`: open leases past their expiry become `expired` and their images go back to
  `queued`. Does not commit (the caller's transaction decides); `next_lease` calls it lazily, the worker
  periodically.
- `next_lease(session, project_id=, annotator_id=, now=, ttl_seconds=)`: the caller's own open lease in the
  project if it has one, else a new lease on the best-ranked queued image (lowest `queue_rank`, then lowest id);
  None when nothing is queued. Commits.
- `heartbeat`, `release`, `skip` (`lease_id=`, `user_id=`, `now=`): act on the caller's own open lease. Commit.
- `open_lease_for_update(session, image_id)`: the open lease on an image, row-locked (mask submission).

Concurrency. PostgreSQL: the leasing UPDATE picks its row with `FOR UPDATE SKIP LOCKED`, so concurrent callers
never wait for or get the same image; SQLite: every transaction is `BEGIN IMMEDIATE` (service/db/session.py),
so writers are serialised. Either way the partial unique index `uq_lease_open_image` makes a second open lease
on one image impossible. Locks are always taken lease first, image second, so expiry, submission and leasing
cannot deadlock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.config import get_settings
from service.db.base import utcnow
from service.db.tables import Image, ImageState, Lease, LeaseStatus, Project, Round, Score
from service.errors import Conflict, Forbidden, Gone, NotFound
from service.schemas import SelectionReason


def expire_leases(session: Session, now: datetime | None = None) -> int:
    """Expire overdue open leases and return their images to the queue; returns how many expired. No commit."""
    now = now or utcnow()
    image_ids = session.scalars(
        update(Lease)
        .where(Lease.status == LeaseStatus.OPEN, Lease.expires_at <= now)
        .values(status=LeaseStatus.EXPIRED)
        .returning(Lease.image_id),
        execution_options={"synchronize_session": False},
    ).all()
    if image_ids:
        session.execute(
            update(Image)
            .where(Image.id.in_(image_ids), Image.state == ImageState.LEASED)
            .values(state=ImageState.QUEUED),
            execution_options={"synchronize_session": False},
        )
    return len(image_ids)


def next_lease(
    session: Session,
    *,
    project_id: int,
    annotator_id: int,
    now: datetime | None = None,
    ttl_seconds: int | None = None,
) -> tuple[Lease, Image] | None:
    """The caller's open lease in the project, else a new lease on the best-ranked queued image; commits."""
    now = now or utcnow()
    ttl = timedelta(seconds=ttl_seconds or get_settings().lease_ttl_seconds)
    expire_leases(session, now)
    own = session.execute(
        select(Lease, Image)
        .join(Image, Image.id == Lease.image_id)
        .where(Lease.annotator_id == annotator_id, Lease.status == LeaseStatus.OPEN, Image.project_id == project_id)
        .order_by(Lease.id)
        .limit(1)
    ).first()
    if own is not None:
        session.commit()
        return own[0], own[1]
    best = (
        select(Image.id)
        .where(Image.project_id == project_id, Image.state == ImageState.QUEUED)
        .order_by(Image.queue_rank.asc().nulls_last(), Image.id)
        .limit(1)
        .with_for_update(skip_locked=True)  # rendered on PostgreSQL only; SQLite is serialised by BEGIN IMMEDIATE
        .scalar_subquery()
    )
    image = session.scalars(
        update(Image).where(Image.id == best).values(state=ImageState.LEASED).returning(Image),
        execution_options={"synchronize_session": False},
    ).first()
    if image is None:
        session.commit()  # keeps the expiries
        if session.get(Project, project_id) is None:
            raise NotFound(f"project {project_id} does not exist")
        return None
    lease = Lease(image_id=image.id, annotator_id=annotator_id, issued_at=now, expires_at=now + ttl)
    session.add(lease)
    session.commit()
    return lease, image


def _own_open_lease(session: Session, *, lease_id: int, user_id: int, now: datetime) -> tuple[Lease, Image]:
    lease = session.scalars(select(Lease).where(Lease.id == lease_id).with_for_update()).first()
    if lease is None:
        raise NotFound(f"lease {lease_id} does not exist")
    if lease.annotator_id != user_id:
        raise Forbidden(f"lease {lease_id} belongs to another annotator")
    if lease.status != LeaseStatus.OPEN:
        if lease.status == LeaseStatus.EXPIRED:
            raise Gone(f"lease {lease_id} expired at {lease.expires_at.isoformat()}")
        raise Conflict(f"lease {lease_id} is {lease.status}, not open")
    if lease.expires_at <= now:
        raise Gone(f"lease {lease_id} expired at {lease.expires_at.isoformat()}")
    image = session.scalars(select(Image).where(Image.id == lease.image_id).with_for_update()).one()
    return lease, image


def heartbeat(
    session: Session, *, lease_id: int, user_id: int, now: datetime | None = None, ttl_seconds: int | None = None
) -> Lease:
    """Extend the caller's open lease by the TTL from now; commits."""
    now = now or utcnow()
    lease, _ = _own_open_lease(session, lease_id=lease_id, user_id=user_id, now=now)
    lease.heartbeat_at = now
    lease.expires_at = now + timedelta(seconds=ttl_seconds or get_settings().lease_ttl_seconds)
    session.commit()
    return lease


def release(session: Session, *, lease_id: int, user_id: int, now: datetime | None = None) -> Lease:
    """Give the image back to the queue; commits."""
    return _close(session, lease_id=lease_id, user_id=user_id, now=now or utcnow(), image_state=ImageState.QUEUED)


def skip(session: Session, *, lease_id: int, user_id: int, now: datetime | None = None) -> Lease:
    """The annotator's answer "cannot label this": the image leaves the queue as `skipped`; commits."""
    return _close(session, lease_id=lease_id, user_id=user_id, now=now or utcnow(), image_state=ImageState.SKIPPED)


def _close(session: Session, *, lease_id: int, user_id: int, now: datetime, image_state: ImageState) -> Lease:
    lease, image = _own_open_lease(session, lease_id=lease_id, user_id=user_id, now=now)
    lease.status = LeaseStatus.RELEASED
    if image.state == ImageState.LEASED:
        image.state = image_state
    session.commit()
    return lease


def open_lease_for_update(session: Session, image_id: int) -> Lease | None:
    """The open lease on an image, row-locked until the transaction ends."""
    return session.scalars(
        select(Lease).where(Lease.image_id == image_id, Lease.status == LeaseStatus.OPEN).with_for_update()
    ).first()


def latest_lease(session: Session, *, image_id: int, user_id: int) -> Lease | None:
    """The caller's most recent lease on an image, whatever its status (for error messages)."""
    return session.scalars(
        select(Lease)
        .where(Lease.image_id == image_id, Lease.annotator_id == user_id)
        .order_by(Lease.id.desc())
        .limit(1)
    ).first()


def selection_reason(session: Session, image: Image) -> SelectionReason | None:
    """Why the round that queued `image` chose it (its `score` row), or None for images queued without a round."""
    if image.queued_round_id is None:
        return None
    row = session.execute(
        select(Score, Round.index, Round.strategy)
        .join(Round, Round.id == Score.round_id)
        .where(Score.round_id == image.queued_round_id, Score.image_id == image.id)
    ).first()
    if row is None:
        return None
    score, index, strategy = row
    return SelectionReason(round_index=index, strategy=strategy, rank=score.rank, distance=score.diversity,
                           difficulty=score.difficulty, entropy=score.entropy, combined=score.combined)  # fmt: skip
