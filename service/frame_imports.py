"""Video and frame-folder imports, API side: keep an upload, refuse duplicates, start the `import_frames` job that
decodes in a worker (worker/import_frames.py), and remove uploads that will never be imported. The sources
themselves are found and checked by service/frame_sources.py. Decoding minutes of video is a job with progress,
not a request.
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from contracts.camera import DEFAULT_WARNING
from service import storage, task_queue
from service.crud import rounds as jobs_crud
from service.db.tables import FrameSequence, Job, JobKind, JobStatus, Project
from service.errors import Conflict, Invalid
from service.schemas import FrameOptions


def save_upload(stream: BinaryIO, target: Path) -> str:
    """Copy an upload to `target` in 1 MiB chunks (bounded memory); returns its sha256."""
    digest = hashlib.sha256()
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def upload_target(project_id: int, name: str) -> Path:
    """Where an uploaded video is kept (relative to storage): a fresh folder holding `video<suffix>`. The client's
    file name is only shown, never used as a path (".." or "" would name a folder)."""
    suffix = Path(name).suffix.lower()
    suffix = suffix if suffix[1:].isalnum() and len(suffix) <= 6 else ""
    return storage.project_dir(project_id) / "videos" / uuid.uuid4().hex[:16] / f"video{suffix}"


def refuse_duplicates(*, session: Session, project_id: int, sources: list[dict[str, Any]]) -> None:
    """Conflict naming the earlier import when a source's checksum is an imported sequence of the project, a source
    of an import still queued or running, or another source of the same request."""
    seen: dict[str, str] = {}
    for src in sources:
        if src["checksum"] is None:  # a frame folder: its job checksums the frames as it reads them
            continue
        if src["checksum"] in seen:
            raise Conflict(f"{src['name']} duplicates {seen[src['checksum']]} in the same request")
        seen[src["checksum"]] = src["name"]
    for seq in session.scalars(select(FrameSequence).where(
            FrameSequence.project_id == project_id, FrameSequence.checksum.in_(list(seen)))):  # fmt: skip
        raise Conflict(f"{seen[seq.checksum]} duplicates {seq.name!r}, already imported as sequence {seq.id} "
                       f"(job {seq.job_id}, {seq.created_at:%Y-%m-%d %H:%M} UTC)")  # fmt: skip
    active = session.scalars(select(Job).where(
        Job.project_id == project_id, Job.kind == JobKind.IMPORT_FRAMES,
        Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING])))  # fmt: skip
    for job in active:
        for src in job.params.get("sources", []):
            if src.get("checksum") in seen:
                raise Conflict(f"{seen[src['checksum']]} duplicates {src['name']!r}, being imported by job {job.id}")


def start_import(
    *, session: Session, project: Project, sources: list[dict[str, Any]], options: FrameOptions
) -> tuple[Job, str | None]:
    """Create and send the import job; returns (job, None) or (job marked failed, why) when the broker refused.

    `sources`: [{"kind": "video", "name", "checksum", "path", "uploaded"}], `path` relative to storage for an
    upload (the job deletes it if the import fails), absolute under the import root otherwise."""
    refuse_duplicates(session=session, project_id=project.id, sources=sources)
    if options.pool_per_minute is not None and any(s["kind"] != "video" for s in sources):
        raise Invalid("pool_per_minute needs a frame rate, which frame folders do not have: give pool_every")
    params = {"sources": sources, "options": options.model_dump(mode="json")}
    job = jobs_crud.create_job(session=session, project=project, kind=JobKind.IMPORT_FRAMES, params=params)
    try:
        jobs_crud.record_enqueued(session=session, job=job, task_id=task_queue.enqueue(job.kind, job.id))
    except Exception as err:
        jobs_crud.record_enqueue_failure(session=session, job=job, error=f"{type(err).__name__}: {err}")
        discard_uploads(job.params)
        return job, f"job {job.id} created but the broker is unreachable; job marked failed ({err})"
    return job, None


def intrinsics_warning(options: FrameOptions, sources: list[dict[str, Any]] | None = None) -> list[str]:
    calibrated = bool(sources) and all(s.get("calibration") for s in sources or [])
    return [] if options.hfov_deg or options.focal_px or calibrated else [DEFAULT_WARNING]


def discard(relative: Path) -> None:
    """Remove an upload that will not be imported (and its own folder, `upload_target`'s)."""
    shutil.rmtree(storage.absolute(Path(relative).parent), ignore_errors=True)


def discard_uploads(params: dict[str, Any]) -> None:
    """The uploads of an import job that will never run (cancelled while queued, or never sent): a job that runs
    removes them itself when it fails."""
    for src in params.get("sources", []):
        if src.get("uploaded"):
            discard(Path(src["path"]))
