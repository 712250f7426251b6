from __future__ import annotations

from fastapi import APIRouter, status

from service.api.deps import CurrentUser, ProjectDep, ProjectLead, SessionDep
from service.api.params import RowId
from service.crud import members
from service.crud import rounds as crud
from service.schemas import RoundCreate, RoundPublic, RoundsPublic
from service.start_round import start_and_send

router = APIRouter(tags=["rounds"])


@router.post("/projects/{project_id}/rounds", status_code=status.HTTP_202_ACCEPTED)
def start_round(session: SessionDep, project: ProjectLead, body: RoundCreate) -> RoundPublic:
    """Start the next active-learning round: creates the round and its plan job, sends it to the worker, returns
    at once (202); the plan job creates the round's other stages. Refused while another round runs, or beyond the
    remaining label budget; 503 when the broker is unreachable (the round is then marked failed)."""
    round_ = start_and_send(session=session, project=project, batch_size=body.batch_size, strategy=body.strategy)
    return RoundPublic.model_validate(round_)


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
