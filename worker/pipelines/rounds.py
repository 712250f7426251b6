"""The round pipeline (`TaskName.RUN_ROUND`): choose the round's batch from the unlabeled pool and queue it.

Two pipelines, chosen by the project setting `pipeline`:
- "model" (default): the method's round, split into stage jobs (`round_plan` sequences them, `round_stages` runs
  them over `models.active_round`); strategies by name from `models.strategies` (random, entropy, diversity,
  difficulty, diversity+difficulty).
- "plain": no model; strategies are plain functions registered by name in `STRATEGIES` (style principle 8), `random`
  only by default (tests add slow ones).

A strategy only *chooses*; this module does the bookkeeping in one transaction that also marks the job
succeeded: `score` rows with ranks, images `queued` with `queue_rank` and `queued_round_id`, the round
`succeeded`. A refusal (too few images, unknown strategy) changes nothing in the queue.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.db.base import utcnow
from service.db.session import session_scope
from service.db.tables import Image, ImageRole, ImageState, JobKind, JobStatus, Project, Round, RoundStatus, Score
from worker.runner import JobContext, JobDeferred, PipelineError


@dataclass(frozen=True)
class RoundInput:
    """What a strategy chooses from. `candidates` are the unlabeled pool image ids, ascending."""

    ctx: JobContext
    project_id: int
    round_index: int
    batch_size: int
    candidates: list[int]
    seed: int


@dataclass(frozen=True)
class Pick:
    """One chosen image, in pick order; the score fields are whatever the strategy computed."""

    image_id: int
    combined: float | None = None
    diversity: float | None = None
    difficulty: float | None = None
    entropy: float | None = None


Strategy = Callable[[RoundInput], list[Pick]]


def random_strategy(inp: RoundInput) -> list[Pick]:
    """Uniform sample without replacement; the same seed, project and round give the same batch."""
    inp.ctx.progress("selecting", 0.0, f"random: {inp.batch_size} of {len(inp.candidates)}")
    rng = random.Random(f"depthal:{inp.project_id}:{inp.round_index}:{inp.seed}")
    chosen = rng.sample(inp.candidates, inp.batch_size)
    inp.ctx.progress("selecting", 1.0, f"random: picked {len(chosen)}")
    return [Pick(image_id) for image_id in chosen]


STRATEGIES: dict[str, Strategy] = {"random": random_strategy}


def run(ctx: JobContext) -> dict[str, Any]:
    """The round's select job. `settings.pipeline == "plain"`: choose with a `STRATEGIES` function (no model) and
    queue at once. Otherwise (the default) the model-driven round (`round_plan`, `round_stages`): the first run
    plans the stage jobs and defers until they are done; the next run selects."""
    if ctx.round_id is None:
        raise PipelineError(f"job {ctx.job_id} belongs to no round")
    with session_scope() as session:
        project = session.get(Project, ctx.project_id)
        assert project is not None
        pipeline = (project.settings or {}).get("pipeline", "model")
    if pipeline == "plain":
        return run_plain(ctx)
    if pipeline != "model":
        raise PipelineError(f"unknown pipeline setting {pipeline!r}; use 'model' (default) or 'plain'")
    from worker.pipelines import round_plan

    round_plan.plan(ctx.round_id)
    with session_scope() as session:
        earlier = [
            j
            for j in round_plan.stage_jobs(session, ctx.round_id)
            if round_plan.STAGE_ORDER.index(JobKind(j.kind)) < round_plan.STAGE_ORDER.index(JobKind.SELECT)
        ]
        pending = [j.kind for j in earlier if j.status != JobStatus.SUCCEEDED]
    if pending:
        raise JobDeferred(f"waiting for {', '.join(sorted(set(pending)))}")
    from worker.pipelines.round_stages import select_batch

    return select_batch(ctx)


def run_plain(ctx: JobContext) -> dict[str, Any]:
    """Select and queue the batch of the job's round with a model-free strategy from `STRATEGIES`."""
    assert ctx.round_id is not None
    with session_scope() as session:
        round_ = session.get(Round, ctx.round_id)
        project = session.get(Project, ctx.project_id)
        assert round_ is not None and project is not None
        strategy_name, round_index, batch_size = round_.strategy, round_.index, round_.batch_size
        seed = int(ctx.params.get("seed", (project.settings or {}).get("seed", 0)))
        candidates = list(
            session.scalars(
                select(Image.id)
                .where(
                    Image.project_id == ctx.project_id,
                    Image.role == ImageRole.POOL,
                    Image.state == ImageState.UNLABELED,
                )
                .order_by(Image.id)
            )
        )
    strategy = STRATEGIES.get(strategy_name)
    if strategy is None:
        raise PipelineError(f"unknown selection strategy {strategy_name!r}; known: {', '.join(sorted(STRATEGIES))}")
    if batch_size < 1:
        raise PipelineError(f"round {round_index} asks for {batch_size} images; the batch size must be at least 1")
    if len(candidates) < batch_size:
        raise PipelineError(
            f"round {round_index} needs {batch_size} unlabeled pool images, but the project has only {len(candidates)}"
        )
    picks = strategy(RoundInput(ctx, ctx.project_id, round_index, batch_size, candidates, seed))
    _check_picks(picks, set(candidates), batch_size)
    ctx.progress("queueing", 0.0, f"queueing {len(picks)} images")
    with ctx.finishing() as session:
        chosen = [p.image_id for p in picks]
        for rank, pick in enumerate(picks):
            session.add(
                Score(
                    round_id=ctx.round_id,
                    image_id=pick.image_id,
                    diversity=pick.diversity,
                    difficulty=pick.difficulty,
                    entropy=pick.entropy,
                    combined=pick.combined,
                    rank=rank,
                )
            )
        queue_images(session, ctx.project_id, ctx.round_id, chosen, len(candidates))
        ctx.result = {"strategy": strategy_name, "queued": chosen, "pool_unlabeled": len(candidates)}
    return ctx.result


def queue_images(session: Session, project_id: int, round_id: int, chosen: list[int], pool_unlabeled: int) -> None:
    """Queue `chosen` in pick order behind whatever is queued already and mark the round succeeded. Runs inside a
    job's finishing transaction, so it happens exactly once per round."""
    # Still unlabeled? An import or a lead could have touched the pool while the round ran.
    images = {
        i.id: i
        for i in session.scalars(
            select(Image).where(Image.id.in_(chosen), Image.state == ImageState.UNLABELED).with_for_update()
        )
    }
    if len(images) != len(chosen):
        raise PipelineError(f"{len(chosen) - len(images)} chosen images left the unlabeled pool during the round")
    # New batches queue behind whatever earlier rounds left in the queue.
    base = session.scalar(
        select(func.max(Image.queue_rank)).where(
            Image.project_id == project_id, Image.state.in_([ImageState.QUEUED, ImageState.LEASED])
        )
    )
    start = 0.0 if base is None else float(base) + 1.0
    for rank, image_id in enumerate(chosen):
        image = images[image_id]
        image.state = ImageState.QUEUED
        image.queue_rank = start + rank
        image.queued_round_id = round_id
    round_ = session.get(Round, round_id, with_for_update=True)
    assert round_ is not None
    from worker.pipelines.round_stages import stage_seconds

    round_.status = RoundStatus.SUCCEEDED
    round_.finished_at = utcnow()
    round_.metrics = {**(round_.metrics or {}), "queued": len(chosen), "pool_unlabeled": pool_unlabeled,
                      "stage_seconds": stage_seconds(session, round_id)}  # fmt: skip


def _check_picks(picks: list[Pick], candidates: set[int], batch_size: int) -> None:
    ids = [p.image_id for p in picks]
    if len(ids) != batch_size or len(set(ids)) != len(ids) or not set(ids) <= candidates:
        raise PipelineError(f"the strategy returned {len(ids)} picks ({len(set(ids))} distinct), wanted {batch_size}")
