"""Start a round and send its plan job to the worker: `POST /projects/{id}/rounds` and Label Studio's "Start training"
(service/labelstudio/ml_backend.py) both come here."""

from __future__ import annotations

from sqlalchemy.orm import Session

from contracts.strategies import StrategyName
from service import task_queue
from service.crud import rounds as crud
from service.db.tables import Project, Round
from service.errors import Unavailable


def start_and_send(*, session: Session, project: Project, batch_size: int | None,
                   strategy: StrategyName | None) -> Round:  # fmt: skip
    """Create the round and its plan job (commits), then enqueue the job. The broker down: the round is marked
    failed at once (not left pending forever) and `Unavailable` (503) names it. Refusals of `crud.start_round`
    (another round running, no budget left) pass through."""
    round_ = crud.start_round(session=session, project=project, batch_size=batch_size, strategy=strategy)
    job = round_.jobs[0]
    try:
        task_id = task_queue.enqueue(job.kind, job.id)
    except Exception as err:  # the broker refused or cannot be reached
        crud.record_enqueue_failure(session=session, job=job, error=f"{type(err).__name__}: {err}")
        raise Unavailable(
            f"round {round_.index} created but the broker is unreachable; round marked failed ({err})"
        ) from None
    crud.record_enqueued(session=session, job=job, task_id=task_id)
    return crud.get_round(session=session, round_id=round_.id)
