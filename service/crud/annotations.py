"""Mask submission: validate, then store a new annotation version (never overwrite)."""

from __future__ import annotations

import os
import threading
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import masks, queue, storage
from service.db.base import utcnow
from service.db.tables import Annotation, Image, ImageState, LabelClass, Lease, LeaseStatus, Role, User
from service.errors import Conflict, Forbidden, Gone, NotFound


def latest_annotation(*, session: Session, image_id: int) -> Annotation | None:
    return session.scalars(
        select(Annotation).where(Annotation.image_id == image_id).order_by(Annotation.version.desc()).limit(1)
    ).first()


def get_annotation(*, session: Session, image_id: int, version: int | None) -> Annotation:
    if version is None:
        annotation = latest_annotation(session=session, image_id=image_id)
    else:
        annotation = session.scalars(
            select(Annotation).where(Annotation.image_id == image_id, Annotation.version == version)
        ).first()
    if annotation is None:
        which = "no mask" if version is None else f"no mask version {version}"
        raise NotFound(f"image {image_id} has {which}")
    return annotation


def submit_mask(
    *,
    session: Session,
    image_id: int,
    user: User,
    data: bytes,
    fmt: masks.MaskFormat | None,
    now: datetime | None = None,
) -> tuple[Annotation, bool]:
    """Validate and store a mask; returns (annotation, created). An identical retry returns the newest version
    unchanged with created=False. Annotators need their own open, unexpired lease; leads and admins do not."""
    image = session.get(Image, image_id)
    if image is None:
        raise NotFound(f"image {image_id} does not exist")
    classes = session.execute(
        select(LabelClass.train_id, LabelClass.color)
        .where(LabelClass.project_id == image.project_id)
        .order_by(LabelClass.train_id)
    ).all()
    width, height, project_id = image.width, image.height, image.project_id
    session.rollback()  # decode outside any transaction: on SQLite an open one holds the write lock
    ids = masks.decode_mask(
        data, width=width, height=height, class_ids=[c[0] for c in classes], colors=[c[1] for c in classes], fmt=fmt
    )
    digest = masks.checksum(ids)

    now = now or utcnow()
    is_lead = user.role in (Role.LEAD, Role.ADMIN)
    lease = queue.open_lease_for_update(session, image_id)  # lease first, then image: see service/queue.py
    image = session.scalars(select(Image).where(Image.id == image_id).with_for_update()).one()
    latest = latest_annotation(session=session, image_id=image_id)
    own_lease = lease if lease is not None and lease.annotator_id == user.id else None
    if latest is not None and latest.checksum == digest and (is_lead or latest.annotator_id == user.id):
        if own_lease is not None:
            own_lease.status = LeaseStatus.SUBMITTED
        session.commit()
        return latest, False
    if not is_lead:
        _check_lease(session, lease=lease, image_id=image_id, user_id=user.id, now=now)

    version = (latest.version + 1) if latest is not None else 1
    relative = storage.mask_file(project_id, image_id, version)
    _write_atomic(storage.absolute(relative), masks.encode_png(ids))
    annotation = Annotation(
        image_id=image_id,
        annotator_id=user.id,
        lease_id=own_lease.id if own_lease is not None else None,
        version=version,
        mask_path=str(relative),
        checksum=digest,
    )
    session.add(annotation)
    image.state = ImageState.LABELED
    if own_lease is not None:
        own_lease.status = LeaseStatus.SUBMITTED
    session.commit()
    return annotation, True


def _check_lease(session: Session, *, lease: Lease | None, image_id: int, user_id: int, now: datetime) -> None:
    if lease is not None and lease.annotator_id != user_id:
        raise Forbidden(f"image {image_id} is leased to another annotator")
    if lease is not None and lease.expires_at <= now:
        raise Gone(f"your lease {lease.id} on image {image_id} expired at {lease.expires_at.isoformat()}")
    if lease is None:
        previous = queue.latest_lease(session, image_id=image_id, user_id=user_id)
        if previous is not None and previous.status == LeaseStatus.EXPIRED:
            raise Gone(f"your lease {previous.id} on image {image_id} expired at {previous.expires_at.isoformat()}")
        if previous is not None:
            raise Conflict(f"your lease {previous.id} on image {image_id} is {previous.status}; ask for the next image")
        raise Forbidden(f"you hold no lease on image {image_id}")


def _write_atomic(path: os.PathLike[str], payload: bytes) -> None:
    target = os.fspath(path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    tmp = f"{target}.tmp{os.getpid()}-{threading.get_ident()}"
    with open(tmp, "wb") as fh:
        fh.write(payload)
    os.replace(tmp, target)
