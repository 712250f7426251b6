"""A round's last stage: queue the chosen batch, with its pre-labels and superpixels, and finish the round. No torch.

This is the one stage that touches the queue, in one transaction that also marks the job succeeded: the chosen
images (in pick order, behind whatever earlier rounds left queued) become `queued` with their rank and round, and
each gets the superpixels and, when the predict stage made one, the pre-label of this round. A chosen image that
left the unlabeled pool while the round ran (a lead labeled it, a re-import) is left out and counted, not a reason
to fail the round.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.db.base import utcnow
from service.db.session import session_scope, stepwise_session
from service.db.tables import Image, ImageState, Job, JobKind, Round, RoundStatus
from service.labelstudio.sync import after_round
from worker.runner import JobContext, PipelineError


def run(ctx: JobContext) -> dict[str, Any]:
    """Queue what the round's select stage chose, with the predict stage's pre-labels when there are any."""
    if ctx.round_id is None:
        raise PipelineError(f"job {ctx.job_id} belongs to no round")
    results = stage_results(ctx.round_id)
    select_result = results.get(JobKind.SELECT)
    if select_result is None:
        raise PipelineError(f"round {ctx.round_id} has no finished select stage to queue")
    chosen = [int(i) for i in select_result["chosen"]]
    predicted = results.get(JobKind.PREDICT, {})
    prelabels = {int(i): p for i, p in predicted.get("prelabels", {}).items()}
    segments = {int(i): p for i, p in predicted.get("segments", {}).items()}
    ctx.progress("queue", 0.0, f"queueing {len(chosen)} images")
    with ctx.finishing() as session:
        pool_unlabeled = int(select_result.get("pool_unlabeled", 0))
        queued = queue_images(session, ctx.round_id, chosen, pool_unlabeled, prelabels, segments)
        ctx.result = {"queued": queued, "prelabels": len(set(queued) & set(prelabels)),
                      "left_the_pool": len(chosen) - len(queued)}  # fmt: skip
    push_to_labelstudio(ctx.project_id, ctx.round_id)
    return ctx.result


def push_to_labelstudio(project_id: int, round_id: int) -> None:
    """After the round is committed: a project linked to Label Studio gets the new batch as tasks, in rank order
    (service/labelstudio/sync.py). Label Studio being down does not fail the round; its metrics say so and the next
    sync pushes."""
    with stepwise_session() as session:
        outcome = after_round(session, project_id=project_id)
        if outcome is not None:
            round_ = session.get(Round, round_id)
            assert round_ is not None
            round_.metrics = {**(round_.metrics or {}), "labelstudio": outcome}
            session.commit()


def stage_results(round_id: int) -> dict[JobKind, dict[str, Any]]:
    """The results of the round's succeeded jobs, by kind (scoring shards: the last one's)."""
    with session_scope() as session:
        rows = session.execute(select(Job.kind, Job.result).where(Job.round_id == round_id).order_by(Job.id)).all()
    return {JobKind(kind): dict(result or {}) for kind, result in rows if result}


def queue_images(
    session: Session,
    round_id: int,
    chosen: list[int],
    pool_unlabeled: int,
    prelabels: dict[int, str] | None = None,
    segments: dict[int, str] | None = None,
) -> list[int]:
    """Queue `chosen` in pick order behind whatever is queued already, attach their pre-labels and superpixels, and
    mark the round succeeded. Returns the ids queued: the chosen images that are still unlabeled."""
    round_ = session.get(Round, round_id, with_for_update=True)
    assert round_ is not None
    still = {
        i.id: i
        for i in session.scalars(
            select(Image).where(Image.id.in_(chosen), Image.state == ImageState.UNLABELED).with_for_update()
        )
    }
    queued = [i for i in chosen if i in still]
    # New batches queue behind whatever earlier rounds left in the queue.
    base = session.scalar(
        select(func.max(Image.queue_rank)).where(
            Image.project_id == round_.project_id, Image.state.in_([ImageState.QUEUED, ImageState.LEASED])
        )
    )
    start = 0.0 if base is None else float(base) + 1.0
    for rank, image_id in enumerate(queued):
        image = still[image_id]
        image.state = ImageState.QUEUED
        image.queue_rank = start + rank
        image.queued_round_id = round_id
        if prelabels and image_id in prelabels:
            image.prelabel_path = prelabels[image_id]
        if segments and image_id in segments:
            image.segments_path = segments[image_id]
    round_.status = RoundStatus.SUCCEEDED
    round_.finished_at = utcnow()
    round_.metrics = {**(round_.metrics or {}), "queued": len(queued), "pool_unlabeled": pool_unlabeled,
                      "left_the_pool": len(chosen) - len(queued),
                      "stage_seconds": stage_seconds(session, round_id)}  # fmt: skip
    return queued


def stage_seconds(session: Session, round_id: int) -> dict[str, float]:
    """Wall-clock seconds per stage kind of a round (the last attempt of each job), summed over shards."""
    now = utcnow()
    out: dict[str, float] = {}
    for job in session.scalars(select(Job).where(Job.round_id == round_id)):
        if job.started_at is not None:
            out[job.kind] = out.get(job.kind, 0.0) + ((job.finished_at or now) - job.started_at).total_seconds()
    return {k: round(v, 3) for k, v in out.items()}
