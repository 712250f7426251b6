"""Projects and their label classes."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from models.data.cityscapes import CITYSCAPES_CLASSES
from service.db.tables import LabelClass, Project
from service.errors import Conflict, NotFound
from service.schemas import ProjectCreate


def default_classes() -> list[LabelClass]:
    """Cityscapes' 19 train classes with their official colours (train id = position)."""
    return [LabelClass(train_id=t, name=n, color=list(c)) for t, (n, c) in enumerate(CITYSCAPES_CLASSES)]


def create_project(*, session: Session, project_in: ProjectCreate) -> Project:
    if session.scalar(select(Project.id).where(Project.name == project_in.name)) is not None:
        raise Conflict(f"a project named {project_in.name!r} already exists")
    if project_in.classes is None:
        classes = default_classes()
    else:
        classes = [LabelClass(train_id=c.train_id, name=c.name, color=list(c.color)) for c in project_in.classes]
    project = Project(
        name=project_in.name,
        label_budget=project_in.label_budget,
        round_schedule=project_in.round_schedule,
        image_height=project_in.image_height,
        image_width=project_in.image_width,
        settings=project_in.settings,
        classes=classes,
    )
    session.add(project)
    try:
        session.commit()
    except IntegrityError as err:
        session.rollback()
        raise Conflict(f"a project named {project_in.name!r} already exists") from err
    return project


def get_project(*, session: Session, project_id: int) -> Project:
    project = session.get(Project, project_id, options=[selectinload(Project.classes)])
    if project is None:
        raise NotFound(f"project {project_id} does not exist")
    return project


def list_projects(*, session: Session, offset: int, limit: int) -> tuple[list[Project], int]:
    stmt = select(Project).options(selectinload(Project.classes)).order_by(Project.id).offset(offset).limit(limit)
    return list(session.scalars(stmt)), session.scalar(select(func.count()).select_from(Project)) or 0


def palette(project: Project) -> tuple[list[int], list[list[int]]]:
    """(class ids, colours) in train-id order."""
    return [c.train_id for c in project.classes], [list(c.color) for c in project.classes]
