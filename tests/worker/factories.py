"""Rows and files for worker tests: a project with real PNGs in storage, rounds and jobs."""

from __future__ import annotations

import hashlib
import io
from typing import Any

from PIL import Image as PILImage
from sqlalchemy.orm import Session

from service import storage
from service.crud.projects import default_classes
from service.db.session import session_scope
from service.db.tables import Image, ImageRole, Job, JobKind, Project, Round


def png_bytes(width: int = 32, height: int = 16, seed: int = 0) -> bytes:
    img = PILImage.new("RGB", (width, height), ((seed * 37) % 256, (seed * 91) % 256, (seed * 13) % 256))
    img.putpixel((seed % width, 0), (255, 255, 255))  # distinct bytes per seed: the checksum is unique
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


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
        data = png_bytes(seed=k)
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
            img.prev_path = _write(storage.image_file(project.id, img.id, ".png", "prev"), png_bytes(seed=k + 1))
            img.next_path = _write(storage.image_file(project.id, img.id, ".png", "next"), png_bytes(seed=k + 2))
        images.append(img)
    return images


def make_project(n_images: int = 6, *, name: str = "p", neighbours: bool = False, **settings: Any) -> int:
    with session_scope() as session:
        # "plain": these tests exercise the model-free round (tiny non-sequence images); tests/e2e run the model round
        settings = {"pipeline": "plain", **settings}
        project = Project(name=name, label_budget=100, round_schedule=[2, 2], settings=settings)
        project.classes = default_classes()
        session.add(project)
        session.flush()
        add_images(session, project, n_images, neighbours=neighbours)
        return project.id


def make_job(project_id: int, kind: str = JobKind.VALIDATE_IMAGES, **params: Any) -> int:
    with session_scope() as session:
        job = Job(project_id=project_id, kind=kind, params=params)
        session.add(job)
        session.flush()
        return job.id


def make_round(project_id: int, batch_size: int, strategy: str = "random", **params: Any) -> tuple[int, int]:
    """A pending round and its select job, as the API creates them; returns (round id, job id)."""
    with session_scope() as session:
        index = session.query(Round).filter_by(project_id=project_id).count()
        round_ = Round(project_id=project_id, index=index, batch_size=batch_size, strategy=strategy)
        session.add(round_)
        session.flush()
        job = Job(project_id=project_id, round_id=round_.id, kind=JobKind.SELECT, params=params)
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
