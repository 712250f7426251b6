"""`import_frames`: decode each video of an import (or read each frame folder, the `sequence` layout) once,
streaming; store every `frame_stride`-th frame as a JPEG (depth-training material, models/data/frame_store.py); add
one pool image per `pool_every` source frames with its t-1 / t+1 neighbours; record a `frame_sequence` row per
source. Torch-free (PyAV, numpy, Pillow).

All or nothing: rows are written in the job's final commit only, and a failure of any source removes every frame
this job wrote and the uploaded files, so a failed import leaves the job's error and nothing else. Duplicates (a
video or frame folder already imported, by sha256) are refused by the API for videos and checked for every source
in that final commit (a folder's checksum is known only once its frames are read).
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from contracts import camera
from contracts.cityscapes import DataError
from contracts.frame_folders import MIN_FRAMES, check_folder
from models.data import video
from models.data.frame_store import (
    StoredSequence,
    first_frame_size,
    frame_name,
    pool_positions,
    read_frame_files,
    store_frames,
)
from service import storage
from service.db.session import session_scope
from service.db.tables import FrameSequence, Image, ImageState, Job, SequenceSource
from service.imports import sha256_of
from worker.runner import JobContext, PipelineError

ENCODE_THREADS = 2  # JPEG encoding beside FFmpeg's decoding threads; Pillow releases the GIL while it encodes
IN_CHUNK = 1000  # values per IN (...) list: SQLite allows 32766 parameters a statement
PROGRESS_EVERY = 16  # frames between progress calls (each reads the job row: also how a cancel stops the import)
_SOURCES = {"video": SequenceSource.VIDEO, "frames": SequenceSource.FRAMES, "kitti_raw": SequenceSource.KITTI_RAW,
            "cityscapes": SequenceSource.CITYSCAPES}  # fmt: skip


@dataclass
class _Imported:
    """One source, stored and sampled, waiting for the final commit."""

    source: dict[str, Any]
    stored: StoredSequence
    relative: Path  # the frames folder, relative to storage
    pool: list[int]  # stored positions of the pool images
    checksums: list[str]  # sha256 of each pool image's file
    intrinsics: dict[str, float]
    intrinsics_source: str
    warning: str | None
    pool_every: int


@contextmanager
def _user_errors() -> Iterator[None]:
    try:
        yield
    except (DataError, ValueError) as err:
        raise PipelineError(str(err)) from None


def _source_path(src: dict[str, Any]) -> Path:
    return storage.absolute(src["path"]) if src.get("uploaded") else Path(src["path"])


@dataclass
class _Source:
    frames: Iterator[tuple[int, float | None, Any]]  # (source index, time, rgb (H, W, 3) uint8)
    size: tuple[int, int]  # (width, height) the intrinsics refer to: the video as displayed, the folder's frames
    expected: int  # frames to store, 0 when unknown
    pool_every: int  # source frames per pool image
    digest: Any = None  # a frame folder's sha256, filled as its files are read


def _open_source(src: dict[str, Any], options: dict[str, Any]) -> _Source:
    stride, max_width = int(options["frame_stride"]), options.get("max_width")
    if src["kind"] == "video":
        path = _source_path(src)
        info = video.probe(path)
        pool_every = int(options["pool_every"])
        if options.get("pool_per_minute"):
            if not info.fps:
                raise PipelineError(f"{src['name']} has no frame rate for pool_per_minute: give pool_every")
            pool_every = max(1, round(info.fps * 60 / float(options["pool_per_minute"])))
        frames = ((f.index, f.time, f.rgb) for f in video.decode(path, stride=stride, max_width=max_width))
        expected = max(info.frames // stride, 1) if info.frames else 0
        return _Source(frames, (info.width, info.height), expected, pool_every)
    files = check_folder(Path(src["path"]), src["name"], src.get("prefix"))  # listed again: it may have changed
    digest = hashlib.sha256()
    frames = read_frame_files(files, stride=stride, max_width=max_width, digest=digest)
    return _Source(frames, first_frame_size(files), len(range(0, len(files), stride)), int(options["pool_every"]),
                   digest)  # fmt: skip


def _import_source(ctx: JobContext, k: int, src: dict[str, Any], options: dict[str, Any], n: int) -> _Imported:
    stride = int(options["frame_stride"])
    opened = _open_source(src, options)
    (width, height), expected, digest = opened.size, opened.expected, opened.digest
    relative = storage.sequence_frames_dir(ctx.project_id, ctx.job_id, k)

    def tick(stored: int) -> None:
        if stored % PROGRESS_EVERY == 0:
            done = min(stored / expected, 0.99) if expected else stored / (stored + 300.0)
            ctx.progress("decoding", (k + done) / n, f"{src['name']} ({k + 1}/{n}): {stored} frames stored")

    stored = store_frames(opened.frames, storage.absolute(relative), stride=stride, threads=ENCODE_THREADS,
                          progress=tick)  # fmt: skip
    if stored.count < MIN_FRAMES:
        raise PipelineError(f"{src['name']} has {stored.count} frame(s) to store (frame_stride {stride}); at least "
                            f"{MIN_FRAMES} are needed (t-1, t, t+1)")  # fmt: skip
    if digest is not None:
        src = {**src, "checksum": digest.hexdigest()}
    # a calibration and focal_px are in pixels of the source (the video as displayed, the folder's frames): K
    # there, then scaled to the stored size
    K, origin, warning = camera.choose_intrinsics(width, height, calibration=src.get("calibration"),
                                                  focal_px=options.get("focal_px"),
                                                  hfov_deg=options.get("hfov_deg"))  # fmt: skip
    K = camera.scale(K, (height, width), (stored.height, stored.width))
    pool = pool_positions(stored.count, stride, opened.pool_every) if src.get("pool", True) else []
    checksums = [sha256_of(stored.folder / frame_name(i)) for i in pool]
    ctx.progress("decoding", (k + 1) / n, f"{src['name']}: {stored.count} frames, {len(pool)} pool images")
    return _Imported(src, stored, relative, pool, checksums, K, origin, warning, opened.pool_every)


def run(ctx: JobContext) -> dict[str, Any]:
    """Import the job's sources (`params["sources"]`, options in `params["options"]`): see the module docstring."""
    sources, options = ctx.params["sources"], ctx.params["options"]
    out = storage.absolute(storage.import_frames_dir(ctx.project_id, ctx.job_id))
    shutil.rmtree(out, ignore_errors=True)  # a redelivered job starts again from nothing
    try:
        with _user_errors():
            done = [_import_source(ctx, k, src, options, len(sources)) for k, src in enumerate(sources)]
        return _commit(ctx, done, options)
    except Exception:
        if not _still_ours(ctx):  # taken for dead and started again: the files belong to the newer attempt
            raise
        shutil.rmtree(out, ignore_errors=True)
        for src in sources:
            if src.get("uploaded"):  # its own folder (service.frame_imports.upload_target), resolved from storage
                shutil.rmtree(storage.absolute(Path(src["path"]).parent), ignore_errors=True)
        raise


def _still_ours(ctx: JobContext) -> bool:
    with session_scope() as session:
        return session.scalar(select(Job.attempt).where(Job.id == ctx.job_id)) == ctx.attempt


def _commit(ctx: JobContext, done: list[_Imported], options: dict[str, Any]) -> dict[str, Any]:
    """The sequences and their pool images, and the job's success, in one transaction."""
    with ctx.finishing() as session:
        checksums = [d.source["checksum"] for d in done]
        for a, b in ((a, b) for i, a in enumerate(done) for b in done[i + 1 :]):
            if a.source["checksum"] == b.source["checksum"]:
                raise PipelineError(f"{b.source['name']} holds the same frames as {a.source['name']}")
        for seq in session.scalars(select(FrameSequence).where(
                FrameSequence.project_id == ctx.project_id, FrameSequence.checksum.in_(checksums))):  # fmt: skip
            name = next(d.source["name"] for d in done if d.source["checksum"] == seq.checksum)
            raise PipelineError(
                f"{name} duplicates {seq.name!r}, already imported as sequence {seq.id} (job {seq.job_id})"
            )
        pool_sums = [c for d in done for c in d.checksums]
        taken: set[str] = set()
        for k in range(0, len(pool_sums), IN_CHUNK):  # hours of video: tens of thousands of pool images
            taken.update(session.scalars(select(Image.checksum).where(
                Image.project_id == ctx.project_id, Image.checksum.in_(pool_sums[k : k + IN_CHUNK]))))  # fmt: skip
        sequences, images, duplicates = [], 0, 0
        for d in done:
            seq = FrameSequence(
                project_id=ctx.project_id, job_id=ctx.job_id, source=_SOURCES[d.source["kind"]],
                name=d.source["name"][:255], checksum=d.source["checksum"], frames_dir=d.relative.as_posix(),
                frame_count=d.stored.count,
                frame_stride=int(options["frame_stride"]), pool_every=d.pool_every, pool_images=0,
                width=d.stored.width, height=d.stored.height, intrinsics=d.intrinsics,
                intrinsics_source=d.intrinsics_source, warning=d.warning,
            )  # fmt: skip
            session.add(seq)
            session.flush()
            for position, checksum in zip(d.pool, d.checksums, strict=True):
                if checksum in taken:  # a frame identical to one already in the project (a still scene): training only
                    duplicates += 1
                    continue
                taken.add(checksum)
                session.add(_pool_image(ctx.project_id, seq, d, position, checksum, options["role"]))
                seq.pool_images += 1
            images += seq.pool_images
            sequences.append(seq.id)
        warnings = sorted({d.warning for d in done if d.warning})
        ctx.result = {"sequences": sequences, "frames": sum(d.stored.count for d in done), "pool_images": images,
                      "duplicate_frames_skipped": duplicates, "warnings": warnings}  # fmt: skip
    return ctx.result


def _pool_image(project_id: int, seq: FrameSequence, d: _Imported, position: int, checksum: str, role: str) -> Image:
    """A pool image is a stored frame: its file and its neighbours are the sequence's own files (no copies)."""

    def at(i: int) -> str:
        return (d.relative / frame_name(i)).as_posix()

    name = f"{d.source['name'][:240]}@{d.stored.source_index[position]:06d}"  # the source frame number
    return Image(
        project_id=project_id, role=role, name=name, path=at(position), prev_path=at(position - 1),
        next_path=at(position + 1),
        width=d.stored.width, height=d.stored.height, intrinsics=d.intrinsics, checksum=checksum,
        state=ImageState.UNLABELED, sequence_id=seq.id,
    )  # fmt: skip
