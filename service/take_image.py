"""Lease one particular queued image: `POST /images/{id}/lease` (docs/api.md, "Queue semantics").

For an annotator whose lease ran out while they were still drawing (the page kept the drawing): if nobody took the
image meanwhile, they take it back and submit. The rules are `next`'s: overdue leases expire first, an annotator
holds at most one open lease per project, and the lease is a plain row like `next`'s (same TTL, same locks: lease
rows before image rows). Works the same on SQLite and PostgreSQL (an image row lock; SQLite serialises writers).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from service.config import get_settings
from service.db.base import utcnow
from service.db.tables import Image as ImageRow
from service.db.tables import ImageState, Lease, LeaseStatus
from service.errors import Conflict, NotFound
from service.queue import IMAGE, LEASE, expire_leases


def take_image(
    session: Session, *, image_id: int, annotator_id: int, now: datetime | None = None, ttl_seconds: int | None = None
) -> tuple[Lease, ImageRow]:
    """A new lease on `image_id` for the caller, or the caller's open lease on it already; commits. Refused (nothing
    changes): unknown image → NotFound; the caller holds an open lease on another image of the project, or the
    image is not queued (leased by someone else, labeled, skipped, never queued) → Conflict naming it."""
    now = now or utcnow()
    ttl = timedelta(seconds=ttl_seconds or get_settings().lease_ttl_seconds)
    conn = session.connection()
    expire_leases(session, now)
    image = conn.execute(select(IMAGE).where(IMAGE.c.id == image_id).with_for_update()).first()
    if image is None:
        session.rollback()
        raise NotFound(f"image {image_id} does not exist")
    lease_project = select(IMAGE.c.project_id).where(IMAGE.c.id == LEASE.c.image_id).scalar_subquery()
    own = conn.execute(
        select(LEASE).where(LEASE.c.annotator_id == annotator_id, LEASE.c.status == LeaseStatus.OPEN.value,
                            lease_project == image.project_id).limit(1)
    ).first()  # fmt: skip
    if own is not None and own.image_id == image_id:
        session.commit()  # keeps the expiries
        return Lease(**own._mapping), ImageRow(**image._mapping)
    if own is not None:
        session.rollback()
        raise Conflict(f"you hold lease {own.id} on image {own.image_id} of this project; submit, release or skip "
                       "it first")  # fmt: skip
    if image.state != ImageState.QUEUED.value:
        state = "leased to another annotator" if image.state == ImageState.LEASED.value else image.state
        session.rollback()
        raise Conflict(f"image {image_id} is {state}, not queued: it cannot be leased")
    row = conn.execute(
        update(IMAGE).where(IMAGE.c.id == image_id).values(state=ImageState.LEASED.value).returning(*IMAGE.c)
    ).one()
    values = {"image_id": image_id, "annotator_id": annotator_id, "issued_at": now, "expires_at": now + ttl,
              "heartbeat_at": None, "status": LeaseStatus.OPEN.value, "created_at": now}  # fmt: skip
    lease_id = conn.execute(insert(LEASE).values(**values).returning(LEASE.c.id)).scalar_one()
    session.commit()
    return Lease(id=lease_id, **values), ImageRow(**row._mapping)
