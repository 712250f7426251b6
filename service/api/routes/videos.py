"""Video imports: upload a video file (streamed to disk, `DEPTHAL_MAX_VIDEO_BYTES`) and list a project's imported
sequences. The import itself is an `import_frames` job (docs/data.md, "Video and frame sequences"); a server-side
video folder goes through `POST /projects/{id}/images/import` with `layout: "video"`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy import func, select

from service import frame_imports, frame_sources, storable, storage
from service.api.deps import ProjectDep, ProjectLead, SessionDep
from service.api.params import Limit, Offset
from service.db.tables import FrameSequence, ImageRole
from service.errors import Invalid
from service.schemas import FrameOptions, ImportResult, JobPublic, SequencePublic, SequencesPublic

router = APIRouter(tags=["videos"])


def frame_options(**fields: object) -> FrameOptions:
    """Form fields → the one options model (bounds live there); a bad value is the usual 422 naming the field."""
    try:
        return FrameOptions.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as err:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in err.errors(include_url=False, include_context=False)]
        ) from None


@router.post("/projects/{project_id}/videos", status_code=status.HTTP_202_ACCEPTED, response_model=ImportResult)
def upload_video(
    session: SessionDep,
    project: ProjectLead,
    file: Annotated[UploadFile, File(description="a video file: MP4/MOV, AVI, MKV/WebM, MPEG-TS/PS, FLV, Ogg")],
    frame_stride: Annotated[int | None, Form()] = None,
    pool_every: Annotated[int | None, Form()] = None,
    pool_per_minute: Annotated[float | None, Form()] = None,
    hfov_deg: Annotated[float | None, Form()] = None,
    focal_px: Annotated[float | None, Form()] = None,
    max_width: Annotated[int | None, Form()] = None,
    role: Annotated[ImageRole | None, Form()] = None,
) -> ImportResult | JSONResponse:
    """Upload one video; an `import_frames` job decodes it (202 with the job; follow it at GET /jobs/{id}). Options
    as in `FrameOptions`; a duplicate of an earlier import (same sha256) is refused (409) naming it."""
    options = frame_options(frame_stride=frame_stride, pool_every=pool_every, pool_per_minute=pool_per_minute,
                            hfov_deg=hfov_deg, focal_px=focal_px, max_width=max_width, role=role)  # fmt: skip
    name = Path(file.filename or "upload.mp4").name
    if why := storable.text_problem(name):
        raise Invalid(f"video name {name!r} {why}")
    relative = frame_imports.upload_target(project.id, name)
    try:
        checksum = frame_imports.save_upload(file.file, storage.absolute(relative))
        frame_sources.check_video_file(storage.absolute(relative), name)
        source = {"kind": "video", "name": name, "checksum": checksum, "path": relative.as_posix(), "uploaded": True}
        job, failure = frame_imports.start_import(session=session, project=project, sources=[source], options=options)
    except BaseException:
        frame_imports.discard(relative)
        raise
    if failure is not None:
        return JSONResponse({"detail": failure}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    return ImportResult(imported=0, skipped_duplicates=0, images=[], job=JobPublic.model_validate(job),
                        warnings=frame_imports.intrinsics_warning(options))  # fmt: skip


@router.get("/projects/{project_id}/sequences")
def read_sequences(session: SessionDep, project: ProjectDep, offset: Offset = 0, limit: Limit = 100) -> SequencesPublic:
    """The project's imported videos and frame folders, oldest first: frames stored, pool images, intrinsics."""
    where = FrameSequence.project_id == project.id
    rows = session.scalars(select(FrameSequence).where(where).order_by(FrameSequence.id).offset(offset).limit(limit))
    count = session.scalar(select(func.count()).select_from(FrameSequence).where(where)) or 0
    return SequencesPublic(data=[SequencePublic.model_validate(s) for s in rows], count=count)
