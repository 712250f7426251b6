from __future__ import annotations

from fastapi import APIRouter, status

from service.api.deps import CurrentUser, LeadUser, ProjectDep, ProjectLead, SessionDep
from service.api.params import Limit, Offset
from service.crud import progress as progress_crud
from service.crud import projects as crud
from service.schemas import ProgressPublic, ProjectCreate, ProjectPublic, ProjectsPublic, ProjectUpdate

router = APIRouter(prefix="/projects", tags=["projects"])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_project(session: SessionDep, lead: LeadUser, project_in: ProjectCreate) -> ProjectPublic:
    """Create a project; classes default to Cityscapes' 19 with their colours. Its creator becomes its lead."""
    return ProjectPublic.model_validate(crud.create_project(session=session, project_in=project_in, creator=lead))


@router.get("")
def read_projects(session: SessionDep, user: CurrentUser, offset: Offset = 0, limit: Limit = 100) -> ProjectsPublic:
    """List the projects you are a member of (admins: all)."""
    projects, count = crud.list_projects(session=session, user=user, offset=offset, limit=limit)
    return ProjectsPublic(data=[ProjectPublic.model_validate(p) for p in projects], count=count)


@router.get("/{project_id}")
def read_project(project: ProjectDep) -> ProjectPublic:
    """One project with its classes."""
    return ProjectPublic.model_validate(project)


@router.patch("/{project_id}")
def update_project(session: SessionDep, project: ProjectLead, update: ProjectUpdate) -> ProjectPublic:
    """Change a project's settings (a JSON Merge Patch), label budget or round schedule between rounds: 409 while
    a round runs; a bad setting is a 422 naming it, and nothing changes."""
    return ProjectPublic.model_validate(crud.update_project(session=session, project=project, update=update))


@router.get("/{project_id}/progress")
def read_progress(session: SessionDep, project: ProjectDep) -> ProgressPublic:
    """Budget total / labeled / queued / leased / remaining, per-round metrics, per-annotator counts."""
    return progress_crud.project_progress(session=session, project=project)
