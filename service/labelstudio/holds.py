"""Depthal's side of a Label Studio task: the image is leased to the project's Label Studio user for as long as
the task is open, so depthal's own `next` never hands it to a second annotator (design.md, "Annotation queue
semantics"). The hold lasts `labelstudio_hold_seconds` and every sync renews it; a skipped task or a sync that
finds the task gone releases it, and the image returns to depthal's queue.

Unlike an annotator's lease, one user holds many: Label Studio distributes its tasks itself (its own task locks).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from service.config import get_settings
from service.db.tables import Image, ImageState, Lease, LeaseStatus, Role, User

LEASE = Lease.__table__
IMAGE = Image.__table__


def holder_name(project_id: int) -> str:
    return f"labelstudio:project-{project_id}"


def holder(session: Session, project_id: int) -> int:
    """The user id that holds the project's images while they are Label Studio tasks (created without a token: it
    cannot sign in). No commit."""
    name = holder_name(project_id)
    user_id = session.scalar(select(User.id).where(User.name == name))
    if user_id is None:
        user = User(name=name, role=Role.ANNOTATOR.value, is_active=True)
        session.add(user)
        session.flush()
        user_id = user.id
    return user_id


def hold(session: Session, *, image_id: int, holder_id: int, now: datetime) -> int | None:
    """Lease a queued image to the holder; its lease id, or None when the image is not queued any more. No commit."""
    taken = session.execute(
        update(IMAGE)
        .where(IMAGE.c.id == image_id, IMAGE.c.state == ImageState.QUEUED.value)
        .values(state=ImageState.LEASED.value)
        .returning(IMAGE.c.id)
    ).first()
    if taken is None:
        return None
    values = {
        "image_id": image_id,
        "annotator_id": holder_id,
        "issued_at": now,
        "heartbeat_at": now,
        "expires_at": now + timedelta(seconds=get_settings().labelstudio_hold_seconds),
        "status": LeaseStatus.OPEN.value,
        "created_at": now,
    }
    return int(session.execute(insert(LEASE).values(**values).returning(LEASE.c.id)).scalar_one())


def is_held(session: Session, lease_id: int | None) -> bool:
    if lease_id is None:
        return False
    return session.scalar(select(LEASE.c.status).where(LEASE.c.id == lease_id)) == LeaseStatus.OPEN.value


def renew(session: Session, lease_ids: list[int], now: datetime) -> None:
    if lease_ids:
        expires = now + timedelta(seconds=get_settings().labelstudio_hold_seconds)
        session.execute(
            update(LEASE)
            .where(LEASE.c.id.in_(lease_ids), LEASE.c.status == LeaseStatus.OPEN.value)
            .values(expires_at=expires, heartbeat_at=now)
        )


def end(session: Session, lease_id: int | None, *, labeled: bool) -> None:
    """Close a hold: `submitted` when its annotation was stored, else `released` with the image back in the queue
    (if it is still leased by this hold). A hold already closed is left as it is: storing a Label Studio mask
    (accepted like a lead's) already released it (service/crud/annotations.py ends others' open leases). No commit."""
    if lease_id is None:
        return
    status = LeaseStatus.SUBMITTED if labeled else LeaseStatus.RELEASED
    closed = session.execute(
        update(LEASE)
        .where(LEASE.c.id == lease_id, LEASE.c.status == LeaseStatus.OPEN.value)
        .values(status=status.value)
        .returning(LEASE.c.image_id)
    ).first()
    if closed is not None and not labeled:
        session.execute(
            update(IMAGE)
            .where(IMAGE.c.id == closed.image_id, IMAGE.c.state == ImageState.LEASED.value)
            .values(state=ImageState.QUEUED.value)
        )
