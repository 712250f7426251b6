"""Label Studio's ML-backend protocol for one depthal project (docs/labelstudio.md, "Live model"); Label Studio
calls these with HTTP basic auth (user `depthal`, the password the link registered)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from service.api.deps import SessionDep
from service.api.params import RowId
from service.crud.projects import get_project
from service.db.tables import Project
from service.labelstudio import ml_backend, signing

router = APIRouter(prefix="/labelstudio/ml/{project_id}", tags=["labelstudio"])
_basic = HTTPBasic(auto_error=False)


def ml_project(
    session: SessionDep, project_id: RowId, credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)]
) -> Project:
    """The project, for Label Studio only: basic auth with the password derived for this project."""
    if (
        credentials is None
        or credentials.username != signing.ML_USER
        or not signing.matches(credentials.password, signing.ml_password(project_id))
    ):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong or missing ML-backend credentials",
                            headers={"WWW-Authenticate": "Basic"})  # fmt: skip
    try:
        return get_project(session=session, project_id=project_id)
    finally:
        session.commit()  # end the read in this thread: no connection held while waiting for the next (deps.py)


MLProject = Annotated[Project, Depends(ml_project)]


@router.get("/health")
def health(session: SessionDep, project: MLProject) -> dict[str, Any]:
    """Up, with the newest round as the model version."""
    return {
        "status": "UP",
        "model_class": ml_backend.MODEL_CLASS,
        "model_version": ml_backend.model_version(session, project.id),
    }


@router.post("/setup")
def setup(session: SessionDep, project: MLProject, _body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    """Label Studio connects the backend to its project: the model version is all it needs back."""
    return {"model_version": ml_backend.model_version(session, project.id)}


@router.post("/predict")
def predict(session: SessionDep, project: MLProject, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    """The newest pre-label of each task's image, as brush regions (one result per task, in order)."""
    tasks = body.get("tasks")
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "the body needs `tasks`: a list of task objects")
    return ml_backend.predict(session, project=project, tasks=tasks)


@router.post("/webhook")
def webhook(session: SessionDep, project: MLProject, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    """`START_TRAINING` (Label Studio's "Start training") starts depthal's next round; other actions are ignored."""
    return ml_backend.webhook(session, project=project, body=body)
