from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, File, Form, Query, UploadFile, status
from fastapi.responses import FileResponse, JSONResponse, Response
from sqlalchemy.orm import Session

from service import frame_imports, frame_sources, imports, masks, storage
from service.api.deps import CurrentUser, ProjectDep, ProjectLead, SessionDep, SettingsDep
from service.api.params import Limit, Offset, RowId
from service.crud import annotations as annotations_crud
from service.crud import images as crud
from service.crud import members
from service.crud.projects import get_project, palette
from service.db.tables import INT32_MAX, Image, ImageRole, ImageState, User
from service.errors import NotFound
from service.schemas import ImageImport, ImagePublic, ImagesPublic, ImportResult, JobPublic

router = APIRouter(tags=["images"])


def _visible_image(session: Session, user: User, image_id: int) -> Image:
    """The image, if the caller is a member of its project (else 404, as for an image that does not exist)."""
    image = crud.get_image(session=session, image_id=image_id)
    members.check_project_of(session=session, project_id=image.project_id, user=user, what=f"image {image_id}")
    return image


@router.post("/projects/{project_id}/images/import", status_code=status.HTTP_201_CREATED, response_model=ImportResult)
def import_folder(
    session: SessionDep,
    settings: SettingsDep,
    project: ProjectLead,
    body: ImageImport,
    response: Response,
) -> ImportResult | JSONResponse:
    """Register a server folder under the import root: plain images, or Cityscapes layout (leftImg8bit with
    leftImg8bit_sequence neighbours and camera intrinsics). All or nothing. Layouts `video` (a video file, or a
    folder of them) and `sequence` (folders of numbered frames) start an `import_frames` job instead: 202."""
    assert settings.import_root is not None
    if body.layout in ("video", "sequence", "kitti_raw", "cityscapes_sequence"):
        if body.layout == "video":
            sources = frame_sources.video_sources(body.path, settings.import_root)
        else:
            sources = frame_sources.sequence_sources(body.path, settings.import_root, layout=body.layout)
        job, failure = frame_imports.start_import(session=session, project=project, sources=sources,
                                                  options=body.frames)  # fmt: skip
        if failure is not None:
            return JSONResponse({"detail": failure}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
        response.status_code = status.HTTP_202_ACCEPTED
        return ImportResult(imported=0, skipped_duplicates=0, images=[], job=JobPublic.model_validate(job),
                            warnings=frame_imports.intrinsics_warning(body.frames, sources))  # fmt: skip
    folder = imports.resolve_import_dir(body.path, settings.import_root)
    found = imports.scan(
        folder, settings.import_root, layout=body.layout, role=body.role, missing_camera=body.missing_camera
    )
    checked = [imports.check(c, full_decode=False) for c in found]
    added, dups = crud.add_images(
        session=session, project=project, candidates=checked, queue=body.queue, skip_duplicates=body.skip_duplicates
    )
    return ImportResult(
        imported=len(added), skipped_duplicates=dups, images=[ImagePublic.model_validate(i) for i in added]
    )


@router.post("/projects/{project_id}/images", status_code=status.HTTP_201_CREATED)
def upload_image(
    session: SessionDep,
    project: ProjectLead,
    file: Annotated[UploadFile, File(description="PNG or JPEG")],
    prev: Annotated[UploadFile | None, File(description="frame t-1")] = None,
    next_frame: Annotated[UploadFile | None, File(alias="next", description="frame t+1")] = None,
    role: Annotated[ImageRole, Form()] = ImageRole.POOL,
    intrinsics: Annotated[str | None, Form(description='JSON {"fx", "fy", "u0", "v0"} in pixels')] = None,
    queue: Annotated[bool, Form(description="queue it at once (no model)")] = False,
) -> ImagePublic:
    """Upload one image, optionally with its t-1 / t+1 frames (the request body obeys the upload size limit)."""
    tmp_root = storage.root() / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tmp_root) as tmp:
        cand = imports.Candidate(
            name=Path(file.filename or "upload").name,
            source=_spool(file, Path(tmp) / "t"),
            role=role,
            prev=_spool(prev, Path(tmp) / "prev") if prev is not None else None,
            next=_spool(next_frame, Path(tmp) / "next") if next_frame is not None else None,
            intrinsics=imports.parse_intrinsics(intrinsics),
        )
        imports.check(cand, full_decode=True)
        added, _ = crud.add_images(session=session, project=project, candidates=[cand], queue=queue, move=True)
    return ImagePublic.model_validate(added[0])


def _spool(upload: UploadFile, target: Path) -> Path:
    with open(target, "wb") as out:
        shutil.copyfileobj(upload.file, out, 1 << 20)
    return target


@router.get("/projects/{project_id}/images")
def read_images(
    session: SessionDep,
    project: ProjectDep,
    state: ImageState | None = None,
    role: ImageRole | None = None,
    offset: Offset = 0,
    limit: Limit = 100,
    order: Literal["id", "queue"] = "id",
) -> ImagesPublic:
    """List a project's images, filtered by state and role, in id order or in the queue's order (`order=queue`:
    what `next` would lease first comes first; the web app prefetches the head of the queue with it)."""
    images, count = crud.list_images(
        session=session, project_id=project.id, state=state, role=role, offset=offset, limit=limit, order=order
    )
    return ImagesPublic(data=[ImagePublic.model_validate(i) for i in images], count=count)


@router.get("/images/{image_id}")
def read_image(session: SessionDep, user: CurrentUser, image_id: RowId) -> ImagePublic:
    """One image's metadata."""
    return ImagePublic.model_validate(_visible_image(session, user, image_id))


@router.get("/images/{image_id}/file", response_class=FileResponse)
def download_image(session: SessionDep, user: CurrentUser, image_id: RowId) -> FileResponse:
    """The image file."""
    image = _visible_image(session, user, image_id)
    return FileResponse(storage.absolute(image.path), filename=Path(image.name).name)


@router.get("/images/{image_id}/neighbours/{frame}", response_class=FileResponse)
def download_neighbour(
    session: SessionDep, user: CurrentUser, image_id: RowId, frame: Literal["prev", "next"]
) -> FileResponse:
    """Frame t-1 (`prev`) or t+1 (`next`) of the image's sequence."""
    image = _visible_image(session, user, image_id)
    path = image.prev_path if frame == "prev" else image.next_path
    if path is None:
        raise NotFound(f"image {image_id} has no {frame} frame")
    return FileResponse(storage.absolute(path))


@router.get("/images/{image_id}/prelabel", response_class=FileResponse)
def download_prelabel(session: SessionDep, user: CurrentUser, image_id: RowId) -> FileResponse:
    """The model's predicted train-id mask offered as a pre-label, when a round produced one."""
    image = _visible_image(session, user, image_id)
    if image.prelabel_path is None:
        raise NotFound(f"image {image_id} has no pre-label yet")
    return FileResponse(storage.absolute(image.prelabel_path), media_type="image/png")


@router.get("/images/{image_id}/prelabel/overlay", response_class=FileResponse)
def download_prelabel_overlay(session: SessionDep, user: CurrentUser, image_id: RowId) -> FileResponse:
    """The pre-label as a picture: the image blended with the predicted class colours (RGB PNG)."""
    image = _visible_image(session, user, image_id)
    if image.prelabel_path is None:
        raise NotFound(f"image {image_id} has no pre-label yet")
    path = storage.absolute(storage.overlay_of(image.prelabel_path))
    if not path.is_file():
        raise NotFound(f"image {image_id} has a pre-label but no overlay")
    return FileResponse(path, media_type="image/png")


@router.get("/images/{image_id}/segments", response_class=FileResponse)
def download_segments(session: SessionDep, user: CurrentUser, image_id: RowId) -> FileResponse:
    """Superpixels the round computed for the image it queued (colour and predicted depth): an RGB PNG at the image's
    size whose segment id is R + 256·G. 404 for an image no round queued (uploads queued by hand)."""
    image = _visible_image(session, user, image_id)
    if image.segments_path is None:
        raise NotFound(f"image {image_id} has no superpixel segments: no round queued it")
    path = storage.absolute(image.segments_path)
    if not path.is_file():
        raise NotFound(f"image {image_id}'s superpixel segments are missing from storage ({image.segments_path})")
    return FileResponse(path, media_type="image/png")


@router.get("/images/{image_id}/mask", response_class=Response)
def download_mask(
    session: SessionDep,
    user: CurrentUser,
    image_id: RowId,
    version: int | None = Query(None, ge=1, le=INT32_MAX, description="default: the newest"),
    style: Literal["train_ids", "color"] = "train_ids",
) -> Response:
    """The image's current (or a given) mask version: train ids (255 = ignore) or colours."""
    image = _visible_image(session, user, image_id)
    annotation = annotations_crud.get_annotation(session=session, image_id=image_id, version=version)
    headers = {"X-Mask-Version": str(annotation.version)}
    path = storage.absolute(annotation.mask_path)
    if style == "train_ids":
        return FileResponse(path, media_type="image/png", headers=headers)
    ids = masks.open_png(path.read_bytes())
    class_ids, colors = palette(get_project(session=session, project_id=image.project_id))
    rgb = masks.colorize(np.asarray(ids), class_ids, colors)
    return Response(masks.encode_png(rgb), media_type="image/png", headers=headers)
