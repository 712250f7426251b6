"""The one place tests make what they need: PNG bytes (images, masks, malformed files) and rows (projects with
stored images, jobs, rounds, users' tokens), written through the service's own storage and sessions."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from typing import Any

import numpy as np
from PIL import Image as PILImage
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service import storage
from service.crud.projects import default_classes
from service.db.session import session_scope
from service.db.tables import Image, ImageRole, ImageState, Job, JobKind, Membership, Project, Role, Round, User


# ---------------------------------------------------------------------------------------------------- PNG bytes
def encode_png(array: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    PILImage.fromarray(array, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def solid_png(width: int = 32, height: int = 16, seed: int = 0) -> bytes:
    """A flat RGB image whose colour and one white pixel depend on `seed` (distinct bytes, so distinct checksums)."""
    img = PILImage.new("RGB", (width, height), ((seed * 37) % 256, (seed * 91) % 256, (seed * 13) % 256))
    img.putpixel((seed % width, 0), (255, 255, 255))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def rgb_image(seed: int, h: int = 8, w: int = 12) -> bytes:
    """A distinct random RGB PNG per seed (distinct checksums)."""
    rng = np.random.default_rng(seed)
    return encode_png(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def id_mask(value: int | np.ndarray, h: int = 8, w: int = 12) -> bytes:
    """A single-channel train-id mask: one class everywhere, or the given array."""
    arr = np.full((h, w), value, dtype=np.uint8) if np.isscalar(value) else np.asarray(value, dtype=np.uint8)
    return encode_png(arr)


def mask_png(width: int, height: int, class_id: int) -> bytes:
    """A single-channel PNG of train ids, one class everywhere but an ignore (255) corner."""
    mask = np.full((height, width), class_id, np.uint8)
    mask[0, 0] = 255
    return encode_png(mask, mode="L")


def declared_png(width: int, height: int) -> bytes:
    """A complete 8-bit grey PNG that declares width × height but holds a single compressed row: a decompression
    bomb's shape (Pillow reads the size at open; no test here decodes it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    row = zlib.compress(b"\0" * (width + 1))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", row) + chunk(b"IEND", b"")


# ---------------------------------------------------------------------------------------------------- videos
def synth_frames(n: int, size: tuple[int, int] = (48, 96), seed: int = 0, archetype: str = "street") -> list:
    """`n` consecutive frames (H, W, 3) uint8 of one synthetic street scene, the camera driving forward."""
    from models.data.synth import build_scene, intrinsics, render

    scene = build_scene(seed, 0, archetype, frames=n if n % 2 else n + 1)
    K = intrinsics(size)
    return [render(scene, offset, K, size).rgb for offset in range(-(n // 2), -(n // 2) + n)]


def encode_video(
    path: Any, frames: list[np.ndarray], *, codec: str = "h264", rotation: int = 0, frame_ms: list[int] | None = None
) -> Any:
    """Encode RGB frames with PyAV: `h264` (.mp4, .mkv) or `mjpeg` (.avi). `rotation` (counter-clockwise degrees, a
    multiple of 90) is written as display metadata, with the frames stored turned the other way, so a player that
    honours it shows `frames`; `frame_ms` gives each frame's duration (a variable frame rate)."""
    import fractions

    import av

    stored = [np.ascontiguousarray(np.rot90(f, k=-(rotation // 90))) for f in frames]
    h, w = stored[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=30)
        stream.width, stream.height = w, h
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        if codec != "mjpeg":
            stream.options = {"crf": "18"}
        if rotation:
            stream.set_display_rotation(rotation)
        if frame_ms is not None:
            stream.time_base = stream.codec_context.time_base = fractions.Fraction(1, 1000)
        pts = 0
        for k, rgb in enumerate(stored):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            if frame_ms is not None:
                frame.pts, frame.time_base = pts, fractions.Fraction(1, 1000)
                pts += frame_ms[k]
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


# ---------------------------------------------------------------------------------------------------- rows
def _write(relative: Any, data: bytes) -> str:
    path = storage.absolute(relative)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(relative)


def add_images(
    session: Session, project: Project, n: int, *, role: str = ImageRole.POOL, neighbours: bool = False
) -> list[Image]:
    images = []
    for k in range(n):
        data = solid_png(seed=k)
        img = Image(
            project_id=project.id,
            role=role,
            name=f"frame_{k:04d}.png",
            path="",
            width=32,
            height=16,
            checksum=hashlib.sha256(data).hexdigest(),
        )
        session.add(img)
        session.flush()
        img.path = _write(storage.image_file(project.id, img.id, ".png"), data)
        if neighbours:
            img.prev_path = _write(storage.image_file(project.id, img.id, ".png", "prev"), solid_png(seed=k + 1))
            img.next_path = _write(storage.image_file(project.id, img.id, ".png", "next"), solid_png(seed=k + 2))
        images.append(img)
    return images


def make_project(n_images: int = 6, *, name: str = "p", neighbours: bool = False, **settings: Any) -> int:
    """A project with `n_images` stored pool images; every existing lead and annotator becomes a member with that
    role (what migration 0008 did for existing users; users made later join through `make_token`)."""
    with session_scope() as session:
        project = Project(name=name, label_budget=100, round_schedule=[2, 2], settings=settings)
        project.classes = default_classes()
        session.add(project)
        session.flush()
        users = session.execute(select(User.id, User.role).where(User.role != Role.ADMIN.value)).all()
        session.add_all(Membership(project_id=project.id, user_id=uid, role=role) for uid, role in users)
        add_images(session, project, n_images, neighbours=neighbours)
        return project.id


def make_job(project_id: int, kind: str = JobKind.VALIDATE_IMAGES, **params: Any) -> int:
    with session_scope() as session:
        job = Job(project_id=project_id, kind=kind, params=params)
        session.add(job)
        session.flush()
        return job.id


def make_round(project_id: int, batch_size: int, strategy: str = "random", **params: Any) -> tuple[int, int]:
    """A pending round and its plan job, as the API creates them; returns (round id, job id). `params` go to the
    job (the slow test strategy reads its steps and sleep there)."""
    with session_scope() as session:
        index = session.query(Round).filter_by(project_id=project_id).count()
        round_ = Round(project_id=project_id, index=index, batch_size=batch_size, strategy=strategy)
        session.add(round_)
        session.flush()
        job = Job(project_id=project_id, round_id=round_.id, kind=JobKind.PLAN, params=params)
        session.add(job)
        session.flush()
        return round_.id, job.id


def load_job(job_id: int) -> Job:
    """The job row as it is now, detached from its session."""
    with session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None
        session.expunge(job)
        return job


def make_token(name: str, role: Role) -> str:
    """A user and their token; a lead or annotator becomes a member of every existing project with that role (what
    migration 0008 did for existing users)."""
    from service.crud.users import create_user
    from service.db.session import get_engine

    with Session(get_engine()) as session:  # create_user commits itself
        user, token = create_user(session=session, name=name, role=role)
        if role != Role.ADMIN:
            for project_id in session.scalars(select(Project.id)):
                session.add(Membership(project_id=project_id, user_id=user.id, role=role.value))
            session.commit()
    return token


def queue_all(project_id: int) -> int:
    """Queue every pool image of a project in id order (what a round does), returns how many."""
    with session_scope() as session:
        return int(
            session.execute(
                update(Image)
                .where(Image.project_id == project_id, Image.role == "pool")
                .values(state=ImageState.QUEUED, queue_rank=Image.id)
            ).rowcount
        )


def queue_round(round_id: int, chosen: list[int], prelabels: dict[int, np.ndarray]) -> list[int]:
    """What a round's predict and queue stages leave (no torch): a `score` row per chosen image in pick order,
    train-id pre-label PNGs in storage, then the queue stage's own `queue_images`. Returns the ids queued."""
    from service.db.tables import Score
    from worker.round.queue import queue_images

    with session_scope() as session:
        round_ = session.get(Round, round_id)
        assert round_ is not None
        paths = {}
        for rank, image_id in enumerate(chosen):
            session.add(Score(round_id=round_id, image_id=image_id, diversity=1.0 / (rank + 1), rank=rank))
            if image_id in prelabels:
                relative = storage.prelabel_file(round_.project_id, image_id, round_.index)
                paths[image_id] = _write(relative, encode_png(prelabels[image_id].astype(np.uint8)))
        session.flush()
        return queue_images(session, round_id, chosen, 0, paths, {})
