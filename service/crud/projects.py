"""Projects and their label classes."""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from contracts.cityscapes import CITYSCAPES_CLASSES
from contracts.settings import ProjectSettings, merge_patch
from service.crud.progress import spent_budget
from service.crud.rounds import active_round
from service.db.tables import LabelClass, Membership, Project, ProjectRole, Role, User
from service.errors import Conflict, Invalid, NotFound
from service.schemas import ProjectCreate, ProjectUpdate

# The link is checked against the Label Studio server before it is stored (service/labelstudio/link.py); a PATCH
# may remove it (`"labelstudio": null`) but not set it.
LINK_ONLY = (
    "settings.labelstudio is set by linking (POST /projects/{id}/labelstudio/link or "
    "`depthal labelstudio link`), which checks the URL, the token and the labels first"
)


def default_classes() -> list[LabelClass]:
    """Cityscapes' 19 train classes with their official colours (train id = position)."""
    return [LabelClass(train_id=t, name=n, color=list(c)) for t, (n, c) in enumerate(CITYSCAPES_CLASSES)]


def new_project(*, session: Session, project_in: ProjectCreate) -> Project:
    """The unsaved row of a validated request (refused: a taken name, a Label Studio link, which only the link
    route sets); `create_project` and the project archive's import (service/project_archive.py) add it."""
    if session.scalar(select(Project.id).where(Project.name == project_in.name)) is not None:
        raise Conflict(f"a project named {project_in.name!r} already exists")
    if project_in.settings.labelstudio is not None:
        raise Invalid(LINK_ONLY)
    if project_in.classes is None:
        classes = default_classes()
    else:
        classes = [LabelClass(train_id=c.train_id, name=c.name, color=list(c.color)) for c in project_in.classes]
    return Project(
        name=project_in.name,
        label_budget=project_in.label_budget,
        round_schedule=project_in.round_schedule,
        image_height=project_in.image_height,
        image_width=project_in.image_width,
        settings=project_in.settings.stored(),
        classes=classes,
    )


def create_project(*, session: Session, project_in: ProjectCreate, creator: User | None = None) -> Project:
    project = new_project(session=session, project_in=project_in)
    if creator is not None and creator.role != Role.ADMIN:  # admins lead every project without a row
        project.members.append(Membership(user_id=creator.id, role=ProjectRole.LEAD.value))
    session.add(project)
    try:
        session.commit()
    except IntegrityError as err:
        session.rollback()
        raise Conflict(f"a project named {project_in.name!r} already exists") from err
    return project


def update_project(*, session: Session, project: Project, update: ProjectUpdate) -> Project:
    """Change settings, budget or schedule between rounds. Refused while a round runs (its stages read the settings),
    and a budget below what is already labeled, queued or leased."""
    session.scalars(select(Project.id).where(Project.id == project.id).with_for_update()).one()  # vs start_round
    if (running := active_round(session=session, project_id=project.id)) is not None:
        raise Conflict(f"round {running.index} is {running.status}; change the project after it ends or cancel it")
    if update.settings is not None:
        if update.settings.get("labelstudio") is not None:
            raise Invalid(LINK_ONLY)
        patched = merge_patch(project.settings or {}, update.settings)
        try:
            project.settings = ProjectSettings.model_validate(patched).stored()
        except ValidationError as err:
            problems = (f"settings.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
            raise Invalid("; ".join(problems)) from None
    if update.label_budget is not None:
        spent = spent_budget(session=session, project=project)
        if update.label_budget < spent:
            raise Conflict(f"the budget cannot go below the {spent} pool images already labeled, queued or leased")
        project.label_budget = update.label_budget
    if update.round_schedule is not None:
        project.round_schedule = update.round_schedule
    session.commit()
    return get_project(session=session, project_id=project.id)


def get_project(*, session: Session, project_id: int) -> Project:
    project = session.get(Project, project_id, options=[selectinload(Project.classes)])
    if project is None:
        raise NotFound(f"project {project_id} does not exist")
    return project


def list_projects(*, session: Session, user: User, offset: int, limit: int) -> tuple[list[Project], int]:
    """The projects the user is a member of (admins: all), by id."""
    visible = select(Project.id)
    if user.role != Role.ADMIN:
        visible = select(Membership.project_id).where(Membership.user_id == user.id)
    stmt = (
        select(Project).options(selectinload(Project.classes)).where(Project.id.in_(visible)).order_by(Project.id)
        .offset(offset).limit(limit)
    )  # fmt: skip
    count = session.scalar(select(func.count()).select_from(Project).where(Project.id.in_(visible))) or 0
    return list(session.scalars(stmt)), count


def palette(project: Project) -> tuple[list[int], list[list[int]]]:
    """(class ids, colours) in train-id order."""
    return [c.train_id for c in project.classes], [list(c.color) for c in project.classes]
