"""A model-free round for tests about the service around the model (queue, leases, jobs, workers): the round's
plan job chooses with a plain strategy and queues at once. A test worker app puts it in place of the model round's
plan stage (tests/worker/slow_app.py); in-process tests run `run` directly.

`STRATEGIES` maps a name to a function choosing from the unlabeled pool ids (`random` here; the test app adds a
slow one). A refusal (too few images, unknown strategy) changes nothing in the queue.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from contracts.settings import ProjectSettings
from service.db.session import session_scope
from service.db.tables import Image, ImageRole, ImageState, Project, Round, Score
from worker.round.queue import queue_images
from worker.runner import JobContext, PipelineError


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
    """The whole round in its plan job: choose with a `STRATEGIES` function and queue at once (no model)."""
    if ctx.round_id is None:
        raise PipelineError(f"job {ctx.job_id} belongs to no round")
    with session_scope() as session:
        round_ = session.get(Round, ctx.round_id)
        project = session.get(Project, ctx.project_id)
        assert round_ is not None and project is not None
        strategy_name, round_index, batch_size = round_.strategy, round_.index, round_.batch_size
        seed = int(ctx.params.get("seed", ProjectSettings.model_validate(project.settings or {}).seed))
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
        queue_images(session, ctx.round_id, chosen, len(candidates))
        ctx.result = {"strategy": strategy_name, "queued": chosen, "pool_unlabeled": len(candidates)}
    return ctx.result


def _check_picks(picks: list[Pick], candidates: set[int], batch_size: int) -> None:
    ids = [p.image_id for p in picks]
    if len(ids) != batch_size or len(set(ids)) != len(ids) or not set(ids) <= candidates:
        raise PipelineError(f"the strategy returned {len(ids)} picks ({len(set(ids))} distinct), wanted {batch_size}")
