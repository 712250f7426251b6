from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from service import task_queue
from service.api.deps import CurrentUser, ProjectDep, ProjectLead, SessionDep
from service.api.params import RowId
from service.crud import members
from service.crud import rounds as crud
from service.schemas import RoundCreate, RoundPublic, RoundsPublic

router = APIRouter(tags=["rounds"])


@router.post("/projects/{project_id}/rounds", status_code=status.HTTP_202_ACCEPTED, response_model=RoundPublic)
def start_round(session: SessionDep, project: ProjectLead, body: RoundCreate) -> RoundPublic | JSONResponse:
    """Start the next active-learning round: creates the round and its plan job, sends it to the worker, returns
    at once (202); the plan job creates the round's other stages. Refused while another round runs, or beyond the
    remaining label budget."""
    round_ = crud.start_round(session=session, project=project, batch_size=body.batch_size, strategy=body.strategy)
    job = round_.jobs[0]
    try:
        task_id = task_queue.enqueue(job.kind, job.id)
        crud.record_enqueued(session=session, job=job, task_id=task_id)
    except Exception as err:  # broker down: fail the round now rather than leave it pending forever
        crud.record_enqueue_failure(session=session, job=job, error=f"{type(err).__name__}: {err}")
        detail = f"round {round_.index} created but the broker is unreachable; round marked failed ({err})"
        return JSONResponse({"detail": detail}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    return RoundPublic.model_validate(crud.get_round(session=session, round_id=round_.id))


@router.get("/projects/{project_id}/rounds")
def read_rounds(session: SessionDep, project: ProjectDep) -> RoundsPublic:
    """A project's rounds, oldest first, with their jobs and metrics."""
    rounds = crud.list_rounds(session=session, project_id=project.id)
    return RoundsPublic(data=[RoundPublic.model_validate(r) for r in rounds], count=len(rounds))


@router.get("/rounds/{round_id}")
def read_round(session: SessionDep, user: CurrentUser, round_id: RowId) -> RoundPublic:
    """One round."""
    round_ = crud.get_round(session=session, round_id=round_id)
    members.check_project_of(session=session, project_id=round_.project_id, user=user, what=f"round {round_id}")
    return RoundPublic.model_validate(round_)


@router.post("/rounds/{round_id}/cancel")
def cancel_round(session: SessionDep, user: CurrentUser, round_id: RowId) -> RoundPublic:
    """Cancel a pending or running round and its unfinished jobs (the project's leads)."""
    project_id = crud.get_round(session=session, round_id=round_id).project_id
    members.check_project_of(session=session, project_id=project_id, user=user, what=f"round {round_id}",
                             roles=members.LEADS)  # fmt: skip
    return RoundPublic.model_validate(crud.cancel_round(session=session, round_id=round_id))
