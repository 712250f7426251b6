"""`validate_images`: open every image of a project and its sequence neighbours, check that they decode and that
their sizes agree with the rows, and write a thumbnail per image. Cheap and torch-free, so the whole job path
(API → broker → worker → job row) is exercised before the model pipelines exist.

Every file is checked before the job fails, so one run names all broken files (the first few in the message).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image as PILImage
from sqlalchemy import select

from service import storage
from service.db.session import session_scope
from service.db.tables import Image
from worker.runner import JobContext, PipelineError

THUMBNAIL_SIZE = (256, 256)  # bounding box; the aspect ratio is kept
MAX_NAMED_PROBLEMS = 10


@dataclass(frozen=True)
class _Row:
    id: int
    name: str
    path: str
    prev_path: str | None
    next_path: str | None
    width: int
    height: int


def _open(relative: str) -> PILImage.Image:
    path = storage.absolute(relative)
    with PILImage.open(path) as img:
        img.load()  # decode every pixel: a truncated file fails here, not in training
        return img.copy()


def _check(row: _Row, thumbnail: Path) -> list[str]:
    """Problems with one image and its neighbours; writes the thumbnail when the image itself is fine."""
    problems = []
    try:
        img = _open(row.path)
    except Exception as exc:
        return [f"{row.name} ({row.path}): cannot decode: {exc}"]
    if img.size != (row.width, row.height):
        problems.append(f"{row.name}: is {img.width}x{img.height}, registered as {row.width}x{row.height}")
    for frame, relative in (("t-1", row.prev_path), ("t+1", row.next_path)):
        if relative is None:
            continue
        try:
            neighbour = _open(relative)
        except Exception as exc:
            problems.append(f"{row.name}: frame {frame} ({relative}) cannot decode: {exc}")
            continue
        if neighbour.size != img.size:
            size = f"{neighbour.width}x{neighbour.height}, image is {img.width}x{img.height}"
            problems.append(f"{row.name}: frame {frame} is {size}")
    thumb = img.convert("RGB")
    thumb.thumbnail(THUMBNAIL_SIZE)
    target = storage.absolute(thumbnail)
    target.parent.mkdir(parents=True, exist_ok=True)
    thumb.save(target, "JPEG", quality=85)
    return problems


def run(ctx: JobContext) -> dict[str, Any]:
    """Validate the project's images (or `params["image_ids"]`) and write their thumbnails."""
    with session_scope() as session:
        query = select(Image).where(Image.project_id == ctx.project_id).order_by(Image.id)
        if ctx.params.get("image_ids"):
            query = query.where(Image.id.in_(ctx.params["image_ids"]))
        rows = [_Row(i.id, i.name, i.path, i.prev_path, i.next_path, i.width, i.height) for i in session.scalars(query)]
    problems: list[str] = []
    frames = 0
    ctx.progress("validating", 0.0, f"0/{len(rows)} images")
    for n, row in enumerate(rows, start=1):
        problems += _check(row, storage.thumbnail_file(ctx.project_id, row.id))
        frames += 1 + (row.prev_path is not None) + (row.next_path is not None)
        ctx.progress("validating", n / len(rows), f"{n}/{len(rows)} images")
    if problems:
        shown = "; ".join(problems[:MAX_NAMED_PROBLEMS])
        more = f" (and {len(problems) - MAX_NAMED_PROBLEMS} more)" if len(problems) > MAX_NAMED_PROBLEMS else ""
        raise PipelineError(f"{len(problems)} problem(s) in the project's images: {shown}{more}")
    return {"images": len(rows), "frames": frames, "thumbnails": len(rows)}
