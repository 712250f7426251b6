"""Images: adding checked candidates (all or nothing), listing, fetching."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service import storage
from service.crud.progress import remaining_budget
from service.db.tables import Image, ImageRole, ImageState, Project
from service.errors import Conflict, Invalid, NotFound
from service.imports import Candidate


def add_images(
    *,
    session: Session,
    project: Project,
    candidates: list[Candidate],
    queue: bool = False,
    skip_duplicates: bool = False,
    move: bool = False,
) -> tuple[list[Image], int]:
    """Store the files and rows of checked candidates in one transaction; returns (images, duplicates skipped).

    Duplicates (same sha256 as an image of the project, or twice in the batch) are refused naming both, unless
    `skip_duplicates`. With `queue`, the new images join the queue after those already there, in name order;
    pool images count against the label budget. `move` renames the source files (uploads) instead of copying.
    """
    by_sum: dict[str, Candidate] = {}
    duplicates = 0
    for cand in candidates:
        if cand.checksum in by_sum:
            if not skip_duplicates:
                raise Conflict(f"{cand.name} duplicates {by_sum[cand.checksum].name} in the same request")
            duplicates += 1
            continue
        by_sum[cand.checksum] = cand
    existing = session.execute(
        select(Image.checksum, Image.id, Image.name).where(
            Image.project_id == project.id, Image.checksum.in_(list(by_sum))
        )
    ).all()
    for checksum, image_id, name in existing:
        if not skip_duplicates:
            raise Conflict(f"{by_sum[checksum].name} duplicates image {image_id} ({name}) already in the project")
        del by_sum[checksum]
        duplicates += 1
    fresh = list(by_sum.values())

    rank = 0.0
    if queue:
        n_pool = sum(c.role == ImageRole.POOL for c in fresh)
        remaining = remaining_budget(session=session, project=project)
        if n_pool > remaining:
            raise Conflict(f"queueing {n_pool} pool images would exceed the remaining label budget of {remaining}")
        rank = (session.scalar(select(func.max(Image.queue_rank)).where(Image.project_id == project.id)) or 0) + 1
    images = []
    for i, cand in enumerate(fresh):
        images.append(
            Image(
                project_id=project.id,
                role=cand.role,
                name=cand.name[:255],
                path="",
                width=cand.width,
                height=cand.height,
                intrinsics=cand.intrinsics,
                checksum=cand.checksum,
                state=ImageState.QUEUED if queue else ImageState.UNLABELED,
                queue_rank=rank + i if queue else None,
            )
        )
    session.add_all(images)
    session.flush()  # ids name the stored files
    written: list[Path] = []
    try:
        for image, cand in zip(images, fresh, strict=True):
            image.path = _store(cand, "t", storage.image_file(project.id, image.id, cand.suffixes["t"]), move, written)
            if cand.prev is not None:
                relative = storage.image_file(project.id, image.id, cand.suffixes["prev"], "prev")
                image.prev_path = _store(cand, "prev", relative, move, written)
            if cand.next is not None:
                relative = storage.image_file(project.id, image.id, cand.suffixes["next"], "next")
                image.next_path = _store(cand, "next", relative, move, written)
        session.commit()
    except BaseException:
        session.rollback()
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return images, duplicates


def _store(cand: Candidate, frame: str, relative: Path, move: bool, written: list[Path]) -> str:
    source = {"t": cand.source, "prev": cand.prev, "next": cand.next}[frame]
    assert source is not None
    target = storage.absolute(relative)
    target.parent.mkdir(parents=True, exist_ok=True)
    if move:
        os.replace(source, target)
    else:
        shutil.copyfile(source, target)
    written.append(target)
    return relative.as_posix()


def get_image(*, session: Session, image_id: int) -> Image:
    image = session.get(Image, image_id)
    if image is None:
        raise NotFound(f"image {image_id} does not exist")
    return image


def list_images(
    *,
    session: Session,
    project_id: int,
    state: str | None,
    role: str | None,
    offset: int,
    limit: int,
    order: str = "id",
) -> tuple[list[Image], int]:
    """order "id", or "queue": the order `next` leases in (queue_rank, NULLs last, then id)."""
    where = [Image.project_id == project_id]
    if state is not None:
        where.append(Image.state == state)
    if role is not None:
        where.append(Image.role == role)
    by = (Image.queue_rank.asc().nulls_last(), Image.id) if order == "queue" else (Image.id,)
    rows = session.scalars(select(Image).where(*where).order_by(*by).offset(offset).limit(limit))
    total = session.scalar(select(func.count()).select_from(Image).where(*where)) or 0
    return list(rows), total


def requeue_skipped(*, session: Session, project: Project, image_ids: list[int] | None) -> list[Image]:
    """Put skipped images back in the queue with the rank they had: all of the project's, or the given ids; commits.

    Ids that are not images of the project → NotFound, images that are not skipped → Conflict, more pool images
    than the remaining label budget → Conflict; each names the images, and nothing changes.
    """
    # Serialise with round starts and other re-queues: the budget check below must see their result.
    session.scalars(select(Project.id).where(Project.id == project.id).with_for_update()).one()
    where = [Image.project_id == project.id]
    where.append(Image.state == ImageState.SKIPPED if image_ids is None else Image.id.in_(set(image_ids)))
    images = list(session.scalars(select(Image).where(*where).order_by(Image.id).with_for_update()))
    if image_ids is not None:
        missing = sorted(set(image_ids) - {i.id for i in images})
        if missing:
            raise NotFound(f"not images of project {project.id}: {_some(missing)}")
        not_skipped = [f"{i.id} ({i.state})" for i in images if i.state != ImageState.SKIPPED]
        if not_skipped:
            raise Conflict(f"only skipped images can be re-queued; these are not: {_some(not_skipped)}")
    n_pool = sum(i.role == ImageRole.POOL for i in images)
    remaining = remaining_budget(session=session, project=project)
    if n_pool > remaining:
        raise Conflict(f"re-queueing {n_pool} pool images would exceed the remaining label budget of {remaining}")
    for image in images:
        image.state = ImageState.QUEUED  # queue_rank and queued_round_id are kept: the image returns to its place
        image.skip_reason = None
    session.commit()
    return images


def _some(items: Sequence[object], limit: int = 10) -> str:
    shown = ", ".join(str(i) for i in items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"


def check_upload_role(role: str) -> ImageRole:
    try:
        return ImageRole(role)
    except ValueError as err:
        raise Invalid(f"role must be 'pool' or 'val', not {role!r}") from err
