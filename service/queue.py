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

On PostgreSQL `next_lease` is one call of `depthal_next_lease()` (migrations 0002, 0003), which takes the same
steps as the Python below; the Python is the SQLite path and the reference.

Concurrency. PostgreSQL: the leasing UPDATE picks its row with `FOR UPDATE SKIP LOCKED`, so concurrent callers
never wait for or get the same image; SQLite: every transaction is `BEGIN IMMEDIATE` (service/db/session.py),
so writers are serialised. Either way the partial unique index `uq_lease_open_image` makes a second open lease
on one image impossible. Locks are always taken lease first, image second, so expiry, submission and leasing
cannot deadlock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Select, insert, select, text, update
from sqlalchemy.orm import Session

from service.config import get_settings
from service.db.base import utcnow
from service.db.tables import Image, ImageState, Lease, LeaseStatus, Project, Round, Score
from service.errors import Conflict, Forbidden, Gone, NotFound
from service.schemas import SelectionReason

# The hot paths run Core statements on the tables (no ORM unit of work or identity map): `next` and a mask
# submission are every annotator's round trip, and ORM bookkeeping would cost more CPU than the SQL itself.
LEASE = Lease.__table__
IMAGE = Image.__table__

# PostgreSQL: `next` is one call of the function from migrations 0002/0003, run in autocommit (one round trip in all).
# Its (lease, image) composite columns are spread into typed columns, so results go through the tables' types.
_NEXT_COLUMNS = [("l", c) for c in LEASE.c] + [("i", c) for c in IMAGE.c]
_NEXT_LEASE_SQL = text(
    "SELECT "
    + ", ".join(f"(r.{t}).{c.name} AS {t}_{c.name}" for t, c in _NEXT_COLUMNS)
    + " FROM depthal_next_lease(CAST(:project_id AS integer), CAST(:annotator_id AS integer),"
    " CAST(:now AS timestamptz), CAST(:ttl_seconds AS integer)) AS r"
).columns(**{f"{t}_{c.name}": c.type for t, c in _NEXT_COLUMNS})


def expire_leases(session: Session, now: datetime | None = None) -> int:
    """Expire overdue open leases and return their images to the queue; returns how many expired. No commit."""
    now = now or utcnow()
    conn = session.connection()
    image_ids = (
        conn.execute(
            update(LEASE)
            .where(LEASE.c.status == LeaseStatus.OPEN.value, LEASE.c.expires_at <= now)
            .values(status=LeaseStatus.EXPIRED.value)
            .returning(LEASE.c.image_id)
        )
        .scalars()
        .all()
    )
    if image_ids:
        conn.execute(
            update(IMAGE)
            .where(IMAGE.c.id.in_(image_ids), IMAGE.c.state == ImageState.LEASED.value)
            .values(state=ImageState.QUEUED.value)
        )
    return len(image_ids)


def best_queued_image(project_id: int) -> Select[tuple[int]]:
    """The id of the project's next image to lease: queued, lowest `queue_rank` (NULLs last), then lowest id. This
    order is the index `ix_image_queue`'s, so the database reads one index entry instead of sorting the queue.
    Row-locked with SKIP LOCKED on PostgreSQL (there `depthal_next_lease()` runs the same query); SQLite is
    serialised by BEGIN IMMEDIATE."""
    return (
        select(IMAGE.c.id)
        .where(IMAGE.c.project_id == project_id, IMAGE.c.state == ImageState.QUEUED.value)
        .order_by(IMAGE.c.queue_rank.asc().nulls_last(), IMAGE.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


def next_lease(
    session: Session,
    *,
    project_id: int,
    annotator_id: int,
    now: datetime | None = None,
    ttl_seconds: int | None = None,
) -> tuple[Lease, Image] | None:
    """The caller's open lease in the project, else a new lease on the best-ranked queued image; commits.
    The objects returned are detached copies: read them, don't add them to a session."""
    now = now or utcnow()
    ttl_seconds = ttl_seconds or get_settings().lease_ttl_seconds
    if session.get_bind().dialect.name == "postgresql":
        return _next_lease_postgres(session, project_id=project_id, annotator_id=annotator_id, now=now,
                                    ttl_seconds=ttl_seconds)  # fmt: skip
    ttl = timedelta(seconds=ttl_seconds)
    conn = session.connection()
    expire_leases(session, now)
    # from the lease side (the caller's open leases, at most one per project), never from the project's images
    lease_project = select(IMAGE.c.project_id).where(IMAGE.c.id == LEASE.c.image_id).scalar_subquery()
    own = conn.execute(
        select(LEASE.c.id)
        .where(
            LEASE.c.annotator_id == annotator_id,
            LEASE.c.status == LeaseStatus.OPEN.value,
            lease_project == project_id,
        )
        .order_by(LEASE.c.id)
        .limit(1)
    ).scalar()
    if own is not None:
        lease_row = conn.execute(select(LEASE).where(LEASE.c.id == own)).one()
        image_row = conn.execute(select(IMAGE).where(IMAGE.c.id == lease_row.image_id)).one()
        session.commit()
        return Lease(**lease_row._mapping), Image(**image_row._mapping)
    best = best_queued_image(project_id).scalar_subquery()
    image_row = conn.execute(
        update(IMAGE).where(IMAGE.c.id == best).values(state=ImageState.LEASED.value).returning(*IMAGE.c)
    ).first()
    if image_row is None:
        session.commit()  # keeps the expiries
        if session.connection().execute(select(Project.id).where(Project.id == project_id)).first() is None:
            raise NotFound(f"project {project_id} does not exist")
        return None
    values = {
        "image_id": image_row.id,
        "annotator_id": annotator_id,
        "issued_at": now,
        "expires_at": now + ttl,
        "heartbeat_at": None,
        "status": LeaseStatus.OPEN.value,
        "created_at": now,
    }
    lease_id = conn.execute(insert(LEASE).values(**values).returning(LEASE.c.id)).scalar_one()
    session.commit()
    return Lease(id=lease_id, **values), Image(**image_row._mapping)


def _next_lease_postgres(
    session: Session, *, project_id: int, annotator_id: int, now: datetime, ttl_seconds: int
) -> tuple[Lease, Image] | None:
    """`next_lease` as one statement in its own transaction (the function sets synchronous_commit off itself)."""
    if session.in_transaction():
        session.commit()  # next_lease commits anyway; autocommit must be chosen before a transaction begins
    conn = session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    params = {"project_id": project_id, "annotator_id": annotator_id, "now": now, "ttl_seconds": ttl_seconds}
    row = conn.execute(_NEXT_LEASE_SQL, params).first()
    session.commit()  # ends the session's transaction; nothing left to send
    if row is None:
        if session.connection().execute(select(Project.id).where(Project.id == project_id)).first() is None:
            raise NotFound(f"project {project_id} does not exist")
        return None
    values = row._mapping
    lease = Lease(**{c.name: values[f"l_{c.name}"] for c in LEASE.c})
    image = Image(**{c.name: values[f"i_{c.name}"] for c in IMAGE.c})
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


def skip(
    session: Session, *, lease_id: int, user_id: int, now: datetime | None = None, reason: str | None = None
) -> Lease:
    """The annotator's answer "cannot label this" (with their reason, if given): the image leaves the queue as
    `skipped`; commits."""
    return _close(session, lease_id=lease_id, user_id=user_id, now=now or utcnow(), image_state=ImageState.SKIPPED,
                  skip_reason=reason)  # fmt: skip


def _close(
    session: Session, *, lease_id: int, user_id: int, now: datetime, image_state: ImageState,
    skip_reason: str | None = None,
) -> Lease:  # fmt: skip
    lease, image = _own_open_lease(session, lease_id=lease_id, user_id=user_id, now=now)
    lease.status = LeaseStatus.RELEASED
    if image.state == ImageState.LEASED:
        image.state = image_state
        if image_state == ImageState.SKIPPED:
            image.skip_reason = skip_reason
    session.commit()
    return lease


def release_open_leases(session: Session, *, user_id: int, project_id: int | None = None) -> int:
    """Release the user's open leases (in one project, or everywhere); their images go back to the queue. For a
    user taken off a project or deactivated. Returns how many. No commit."""
    query = select(Lease).where(Lease.annotator_id == user_id, Lease.status == LeaseStatus.OPEN)
    if project_id is not None:
        query = query.join(Image, Image.id == Lease.image_id).where(Image.project_id == project_id)
    # lease rows before image rows: the queue's lock order
    leases = list(session.scalars(query.order_by(Lease.id).with_for_update()))
    for lease in leases:
        lease.status = LeaseStatus.RELEASED
        session.execute(
            update(Image)
            .where(Image.id == lease.image_id, Image.state == ImageState.LEASED)
            .values(state=ImageState.QUEUED)
        )
    return len(leases)


def open_lease_for_update(session: Session, image_id: int) -> Lease | None:
    """The open lease on an image, row-locked until the transaction ends (a detached copy)."""
    row = (
        session.connection()
        .execute(
            select(LEASE)
            .where(LEASE.c.image_id == image_id, LEASE.c.status == LeaseStatus.OPEN.value)
            .with_for_update()
        )
        .first()
    )
    return Lease(**row._mapping) if row is not None else None


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
