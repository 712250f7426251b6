from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from service import frame_imports, task_queue
from service.api.deps import CurrentUser, ProjectDep, ProjectLead, SessionDep
from service.api.params import Limit, Offset, RowId
from service.crud import members
from service.crud import rounds as crud
from service.db.tables import JobKind
from service.schemas import JobCreate, JobPublic, JobsPublic

router = APIRouter(tags=["jobs"])


@router.post("/projects/{project_id}/jobs", status_code=status.HTTP_202_ACCEPTED, response_model=JobPublic)
def create_job(session: SessionDep, project: ProjectLead, body: JobCreate) -> JobPublic | JSONResponse:
    """Start a standalone job (`validate_images`: decode every image, write thumbnails); returns at once (202)."""
    job = crud.create_job(session=session, project=project, kind=JobKind(body.kind), params=body.params)
    try:
        crud.record_enqueued(session=session, job=job, task_id=task_queue.enqueue(job.kind, job.id))
    except Exception as err:
        crud.record_enqueue_failure(session=session, job=job, error=f"{type(err).__name__}: {err}")
        detail = f"job {job.id} created but the broker is unreachable; job marked failed ({err})"
        return JSONResponse({"detail": detail}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    return JobPublic.model_validate(job)


@router.get("/projects/{project_id}/jobs")
def read_jobs(session: SessionDep, project: ProjectDep, offset: Offset = 0, limit: Limit = 100) -> JobsPublic:
    """A project's jobs, newest first."""
    jobs, count = crud.list_jobs(session=session, project_id=project.id, offset=offset, limit=limit)
    return JobsPublic(data=[JobPublic.model_validate(j) for j in jobs], count=count)


@router.get("/jobs/{job_id}")
def read_job(session: SessionDep, user: CurrentUser, job_id: RowId) -> JobPublic:
    """A job's status, stage, progress and error."""
    job = crud.get_job(session=session, job_id=job_id)
    members.check_project_of(session=session, project_id=job.project_id, user=user, what=f"job {job_id}")
    return JobPublic.model_validate(job)


@router.post("/jobs/{job_id}/cancel")
def cancel_job(session: SessionDep, user: CurrentUser, job_id: RowId) -> JobPublic:
    """Cancel a queued or running job (and its round); the worker sees the status and stops (the project's leads)."""
    project_id = crud.get_job(session=session, job_id=job_id).project_id
    members.check_project_of(session=session, project_id=project_id, user=user, what=f"job {job_id}",
                             roles=members.LEADS)  # fmt: skip
    job = crud.cancel_job(session=session, job_id=job_id)
    if job.kind == JobKind.IMPORT_FRAMES and job.started_at is None:  # never ran: nothing else removes its upload
        frame_imports.discard_uploads(job.params)
    return JobPublic.model_validate(job)
