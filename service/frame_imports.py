"""Video imports, API side: recognise a video container from its first bytes, checksum it, refuse duplicates, and
start the `import_frames` job that decodes it in a worker (worker/import_frames.py). No decoding here: the API
image has no FFmpeg, and decoding minutes of video is a job with progress, not a request.
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image as PILImage
from sqlalchemy import select
from sqlalchemy.orm import Session

from contracts.camera import DEFAULT_WARNING
from contracts.cityscapes import DataError, read_intrinsics
from contracts.frame_folders import (
    FRAME_SUFFIXES,
    KITTI_CAMERA,
    check_folder,
    cityscapes_camera,
    cityscapes_snippets,
    kitti_drives,
    read_calibration,
    read_kitti_calibration,
    sequence_folders,
)
from service import storable, storage, task_queue
from service.crud import rounds as jobs_crud
from service.db.tables import FrameSequence, Job, JobKind, JobStatus, Project
from service.errors import Conflict, Invalid, NotFound
from service.imports import inside_root, resolve_import_dir
from service.schemas import FrameOptions

CONTAINERS = "MP4/MOV, AVI, Matroska/WebM, MPEG-TS/PS, FLV, Ogg"
_QT_ATOMS = (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")  # a QuickTime/MP4 file starts with one
_IMAGES = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image"}


def container_of(head: bytes) -> str | None:
    """The container a file's first bytes announce, or None. Cheap and torch/FFmpeg-free; the worker's decoder
    has the last word (a recognised container may still hold no video stream or an unknown codec)."""
    if head[4:8] in _QT_ATOMS:
        return "mp4"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if head[:3] == b"FLV":
        return "flv"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"\x00\x00\x01\xba":
        return "mpeg-ps"
    if len(head) > 376 and head[0] == head[188] == head[376] == 0x47:  # 188-byte packets, each with its sync byte
        return "mpeg-ts"
    return None


def check_video_file(path: Path, name: str) -> str:
    """The file's container, or Invalid saying what the file is instead (an image, text, empty, unknown)."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if (found := container_of(head)) is not None:
        return found
    if not head:
        raise Invalid(f"{name} is empty, not a video")
    for magic, what in _IMAGES.items():
        if head.startswith(magic):
            raise Invalid(f"{name} is {what}, not a video (a renamed file?); upload images to /images")
    if b"\x00" not in head and _utf8(head):
        raise Invalid(f"{name} is a text file, not a video")
    raise Invalid(f"{name} is not a video container depthal recognises ({CONTAINERS})")


def _utf8(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        return err.start >= len(head) - 3  # a character cut by the 4 KiB read
    return True


def save_upload(stream: BinaryIO, target: Path) -> str:
    """Copy an upload to `target` in 1 MiB chunks (bounded memory); returns its sha256."""
    digest = hashlib.sha256()
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
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


VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".ts", ".mts", ".m2ts", ".mpg", ".mpeg", ".flv",
                  ".ogv"}  # fmt: skip


def video_sources(path: str, root: Path) -> list[dict[str, Any]]:
    """The `video` layout: a video file under the import root, or every video file (by suffix, recursive, sorted)
    in a folder under it; each is checked to be a video container and checksummed. Paths resolving outside the
    root are refused (403), like every folder import."""
    target = inside_root(root / path, root, what="import path")
    if target.is_file():
        files = [target]
    elif target.is_dir():
        files = sorted(p for p in target.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
        files = [inside_root(p, root, what="file") for p in files]
    else:
        raise NotFound(f"import path {path!r} is neither a file nor a folder under the import root")
    if not files:
        raise Invalid(f"no video files ({', '.join(sorted(VIDEO_SUFFIXES))}) under {target}")
    sources = []
    for file in files:
        name = file.name if target.is_file() else file.relative_to(target).as_posix()
        check_video_file(file, name)
        sources.append({"kind": "video", "name": name, "checksum": sha256_of(file), "path": str(file),
                        "uploaded": False})  # fmt: skip
    return sources


def sequence_sources(path: str, root: Path, *, layout: str = "sequence") -> list[dict[str, Any]]:
    """Frame folders under the import root, one sequence each, checked from names and calibrations only (the job
    reads the pixels and checksums them; contracts/frame_folders.py: natural order, at least 3 frames, no gap):
    - `sequence`: the folder itself when it holds frames, else each sub-folder that does, with an optional
      intrinsics.json;
    - `kitti_raw`: KITTI raw's `<date>/<drive>/image_02/data/`, with the date's calib_cam_to_cam.txt;
    - `cityscapes_sequence`: every snippet of `leftImg8bit_sequence/`, with its camera json; depth-training
      material only (no pool images: the annotated frames come from the `cityscapes` layout)."""
    folder = resolve_import_dir(path, root)
    try:
        if layout == "cityscapes_sequence":
            found = [(name, city, prefix) for name, city, prefix in cityscapes_snippets(folder)]
        else:
            folders = kitti_drives(folder) if layout == "kitti_raw" else sequence_folders(folder)
            found = [(_folder_name(seq, folder, layout), seq, None) for seq in folders]
    except DataError as err:
        raise Invalid(str(err)) from None
    if not found:
        what = f"KITTI raw drives (<date>/<drive>/{KITTI_CAMERA}/data/)" if layout == "kitti_raw" else "frames"
        raise Invalid(f"no {what} ({', '.join(sorted(FRAME_SUFFIXES))}) in {folder} or its sub-folders")
    sources = []
    for name, seq, prefix in found:
        if why := storable.text_problem(name):
            raise Invalid(f"folder name {name!r} {why}")
        try:
            files = check_folder(seq, name, prefix)
            calibration = _calibration(layout, folder, seq, name, files, root)
        except DataError as err:
            raise Invalid(str(err)) from None
        for file in files:
            inside_root(file, root, what="file")
        sources.append({"kind": _KINDS[layout], "name": name, "checksum": None, "uploaded": False,
                        "path": str(inside_root(seq, root, what="folder")), "prefix": prefix,
                        "calibration": calibration, "pool": layout != "cityscapes_sequence"})  # fmt: skip
    return sources


_KINDS = {"sequence": "frames", "kitti_raw": "kitti_raw", "cityscapes_sequence": "cityscapes"}


def _folder_name(seq: Path, folder: Path, layout: str) -> str:
    if layout == "kitti_raw":  # <date>/<drive>, the way KITTI names a drive
        return "/".join(seq.parts[-4:-2])
    return folder.name if seq == folder else seq.relative_to(folder).as_posix()


def _calibration(
    layout: str, folder: Path, seq: Path, name: str, files: list[Path], root: Path
) -> dict[str, float] | None:
    if layout == "kitti_raw":
        return read_kitti_calibration(seq, root)
    if layout == "sequence":
        return read_calibration(seq, root)
    camera = cityscapes_camera(folder, name.split("/")[0], name.split("/")[1])
    if camera is None:
        return None
    with PILImage.open(files[0]) as img:  # the json's values are scaled to the frames' own size
        K = read_intrinsics(camera, image_size=(img.height, img.width))
    return {"fx": float(K[0, 0]), "fy": float(K[1, 1]), "u0": float(K[0, 2]), "v0": float(K[1, 2])}
