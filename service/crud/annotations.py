"""Mask submission: validate, then store a new annotation version (never overwrite).

Kept to a few Core statements (it is half of every annotator's round trip): read the image and its classes,
decode outside any lock, then lock lease → image (the order service/queue.py uses), compare with the newest
version, insert, update, commit. On PostgreSQL the locking and comparing is one call of `depthal_submit_mask()`
(migration 0002); when it refuses, the Python path runs to name the reason.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import Integer, String, Subquery, func, insert, select, text, update
from sqlalchemy.orm import Session

from service import masks, queue, storage
from service.db.base import utcnow
from service.db.tables import Annotation, Image, ImageState, LabelClass, Lease, LeaseStatus, Role, User
from service.errors import Conflict, Forbidden, Gone, InsufficientStorage, NotFound

IMAGE = Image.__table__
CLASS = LabelClass.__table__
ANNOTATION = Annotation.__table__

# PostgreSQL: the locks and checks of a submission are one call of the function from migration 0002; its
# `annotation` composite column is spread into typed columns, so results go through the table's types.
_SUBMIT_MASK_SQL = text(
    "SELECT r.outcome, r.lease_id, r.version, "
    + ", ".join(f"(r.a).{c.name} AS a_{c.name}" for c in ANNOTATION.c)
    + " FROM depthal_submit_mask(CAST(:image_id AS integer), CAST(:user_id AS integer), CAST(:is_lead AS boolean),"
    " CAST(:checksum AS varchar), CAST(:now AS timestamptz)) AS r"
).columns(outcome=String, lease_id=Integer, version=Integer, **{f"a_{c.name}": c.type for c in ANNOTATION.c})


def newest_versions(project_id: int) -> Subquery:
    """Subquery (image_id, version) of the newest annotation version of each image of a project: the labels."""
    return (
        select(Annotation.image_id, func.max(Annotation.version).label("version"))
        .join(Image, Image.id == Annotation.image_id)
        .where(Image.project_id == project_id)
        .group_by(Annotation.image_id)
        .subquery()
    )


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


@dataclass(frozen=True)
class _Submission:
    """A decoded, validated mask on its way into storage: what both the PostgreSQL and the Python path need."""

    project_id: int
    image_id: int
    user: User
    data: bytes  # the upload as sent
    fmt: masks.MaskFormat | None
    ids: np.ndarray  # (H, W) train ids
    digest: str  # masks.checksum(ids)
    now: datetime
    # The project's lead (or an admin), or a connector's submission (Label Studio) accepted like a lead's: needs no
    # lease, and ends an annotator's open one.
    is_lead: bool


def submit_mask(
    *,
    session: Session,
    image_id: int,
    user: User,
    data: bytes,
    fmt: masks.MaskFormat | None,
    now: datetime | None = None,
    as_lead: bool | None = None,
    without_lease: bool = False,
) -> tuple[Annotation, bool]:
    """Validate and store a mask; returns (annotation, created). An identical retry returns the newest version
    unchanged with created=False. Annotators need their own open, unexpired lease; the project's leads (`as_lead`;
    default: the user's global role is lead or admin) do not, nor a connector that submits for an annotator of
    another front end (`without_lease`, service/labelstudio/)."""
    conn = session.connection()
    rows = conn.execute(
        select(IMAGE.c.width, IMAGE.c.height, IMAGE.c.project_id, CLASS.c.train_id, CLASS.c.color)
        .join(CLASS, CLASS.c.project_id == IMAGE.c.project_id)
        .where(IMAGE.c.id == image_id)
        .order_by(CLASS.c.train_id)
    ).all()
    if not rows:
        raise NotFound(f"image {image_id} does not exist")
    width, height, project_id = rows[0][:3]
    if conn.dialect.name == "sqlite":
        session.rollback()  # decode outside the transaction: on SQLite an open one holds the database's write lock
    ids = masks.decode_mask(
        data, width=width, height=height, class_ids=[r[3] for r in rows], colors=[r[4] for r in rows], fmt=fmt
    )
    is_lead = without_lease or (as_lead if as_lead is not None else user.role in (Role.LEAD, Role.ADMIN))
    mask = _Submission(project_id, image_id, user, data, fmt, ids, masks.checksum(ids), now or utcnow(), is_lead)
    if conn.dialect.name == "postgresql":
        stored = _submit_postgres(session, mask)
        if stored is not None:
            return stored
        session.rollback()  # refused: the path below takes the locks again and names the reason
    lease = queue.open_lease_for_update(session, image_id)  # lease first, then image: see service/queue.py
    conn = session.connection()
    conn.execute(update(IMAGE).where(IMAGE.c.id == image_id).values(state=ImageState.LABELED.value))  # locks it
    latest = conn.execute(
        select(ANNOTATION).where(ANNOTATION.c.image_id == image_id).order_by(ANNOTATION.c.version.desc()).limit(1)
    ).first()
    own_lease = lease if lease is not None and lease.annotator_id == user.id else None
    if latest is not None and latest.checksum == mask.digest and (mask.is_lead or latest.annotator_id == user.id):
        _close_lease(session, own_lease)
        session.commit()
        return Annotation(**latest._mapping), False
    if not mask.is_lead:
        _check_lease(session, lease=lease, image_id=image_id, user_id=user.id, now=mask.now)
    version = (latest.version + 1) if latest is not None else 1
    annotation = _store_version(session, mask, version, own_lease.id if own_lease is not None else None)
    _close_lease(session, own_lease)
    if mask.is_lead and lease is not None and own_lease is None:
        _end_others_lease(session, mask)
    session.commit()
    return annotation, True


def _submit_postgres(session: Session, mask: _Submission) -> tuple[Annotation, bool] | None:
    """The locked part in one call of depthal_submit_mask() (migration 0002); None when it refuses."""
    params = {"image_id": mask.image_id, "user_id": mask.user.id, "is_lead": mask.is_lead, "checksum": mask.digest,
              "now": mask.now}  # fmt: skip
    row = session.connection().execute(_SUBMIT_MASK_SQL, params).one()._mapping
    if row["outcome"] == "refused":
        return None
    if row["outcome"] == "retry":
        session.commit()
        return Annotation(**{c.name: row[f"a_{c.name}"] for c in ANNOTATION.c}), False
    annotation = _store_version(session, mask, row["version"], row["lease_id"])
    if mask.is_lead:
        _end_others_lease(session, mask)  # the function locked it (lease rows before image rows)
    session.commit()
    return annotation, True


def _store_version(session: Session, mask: _Submission, version: int, lease_id: int | None) -> Annotation:
    """Write the mask file, then insert its annotation row (the caller commits, so a failed write stores nothing)."""
    relative = storage.mask_file(mask.project_id, mask.image_id, version)
    # Always the decoded pixels, re-encoded: the upload's own bytes may carry anything beside them (a 64×32 mask
    # with a 4 MiB text chunk was stored at 4 MiB, issue 19).
    payload = masks.encode_png(mask.ids)
    _write_durably(storage.absolute(relative), payload)
    values = {
        "image_id": mask.image_id,
        "annotator_id": mask.user.id,
        "lease_id": lease_id,
        "version": version,
        "mask_path": relative.as_posix(),
        "checksum": mask.digest,
        "created_at": mask.now,
    }
    annotation_id = session.connection().execute(insert(ANNOTATION).values(**values).returning(ANNOTATION.c.id))
    return Annotation(id=annotation_id.scalar_one(), **values)


def _close_lease(session: Session, lease: Lease | None) -> None:
    if lease is not None:
        session.connection().execute(
            update(queue.LEASE).where(queue.LEASE.c.id == lease.id).values(status=LeaseStatus.SUBMITTED.value)
        )


def _end_others_lease(session: Session, mask: _Submission) -> None:
    """A lead's (or admin's) mask is the image's label: the annotator holding the image's open lease is done with
    it (released), so their later submission is refused (409 naming this version) instead of silently replacing
    the correction (issue 19). The history keeps both: the lead's version row, the lease's status."""
    session.connection().execute(
        update(queue.LEASE)
        .where(
            queue.LEASE.c.image_id == mask.image_id,
            queue.LEASE.c.status == LeaseStatus.OPEN.value,
            queue.LEASE.c.annotator_id != mask.user.id,
        )
        .values(status=LeaseStatus.RELEASED.value)
    )


def _ended_by(session: Session, lease: Lease) -> str | None:
    """Who ended `lease` by storing a version of its image after it was issued, or None."""
    row = session.execute(
        select(Annotation.version, Annotation.created_at, User.name, User.role)
        .join(User, User.id == Annotation.annotator_id)
        .where(
            Annotation.image_id == lease.image_id,
            Annotation.annotator_id != lease.annotator_id,
            Annotation.created_at >= lease.issued_at,
        )
        .order_by(Annotation.version.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    version, created_at, name, role = row
    return f"{role} {name!r} stored version {version} of image {lease.image_id} at {created_at.isoformat()}"


def _check_lease(session: Session, *, lease: Lease | None, image_id: int, user_id: int, now: datetime) -> None:
    if lease is not None and lease.annotator_id != user_id:
        raise Forbidden(f"image {image_id} is leased to another annotator")
    if lease is not None and lease.expires_at <= now:
        raise Gone(f"your lease {lease.id} on image {image_id} expired at {lease.expires_at.isoformat()}")
    if lease is None:
        previous = queue.latest_lease(session, image_id=image_id, user_id=user_id)
        if previous is not None and previous.status == LeaseStatus.EXPIRED:
            raise Gone(f"your lease {previous.id} on image {image_id} expired at {previous.expires_at.isoformat()}")
        if previous is not None and (ended := _ended_by(session, previous)) is not None:
            raise Conflict(f"your lease {previous.id} was ended: {ended}; your mask was not stored; ask for the next "
                           "image")  # fmt: skip
        if previous is not None:
            raise Conflict(f"your lease {previous.id} on image {image_id} is {previous.status}; ask for the next image")
        raise Forbidden(f"you hold no lease on image {image_id}")


def _write_durably(path: os.PathLike[str], payload: bytes) -> None:
    """Write the mask file atomically (temporary file, then rename) and durably: its annotation row commits right
    after, synchronously, and a mask is an hour of someone's work, so the file reaches the disk first; else a power
    cut could leave a committed row pointing at an empty file. The rename is made durable by syncing the directory
    (and its parent, when the directory is new: a project's first mask)."""
    target = os.fspath(path)
    directory = os.path.dirname(target)
    new_directory = not os.path.isdir(directory)
    os.makedirs(directory, exist_ok=True)
    tmp = f"{target}.tmp{os.getpid()}-{threading.get_ident()}"
    try:
        with open(tmp, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)  # no stray temporary file, whatever failed
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise InsufficientStorage("the server's storage is full; the mask was not stored, retry later") from err
        raise
    _sync_directory(directory)
    if new_directory:
        _sync_directory(os.path.dirname(directory))


def _sync_directory(directory: str) -> None:
    if os.name == "nt":  # Windows cannot open a directory to sync it; NTFS journals the rename itself
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
