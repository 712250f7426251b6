"""What runs for each job kind: the one table, `PIPELINES`. A pipeline is `run(ctx: JobContext) -> dict | None`
(worker/runner.py). A round's stages run in `worker.round.plan.STAGE_ORDER`.

Tests start a worker whose app replaces an entry (tests/worker/slow_app.py: a model-free round); the tasks look
the pipeline up when they run, so such a replacement holds.
"""

from __future__ import annotations

from service.db.tables import JobKind
from worker import import_frames, validate_images
from worker.round import plan, queue, stages
from worker.runner import Pipeline

PIPELINES: dict[JobKind, Pipeline] = {
    JobKind.PLAN: plan.run,
    JobKind.PRETRAIN_DEPTH: stages.pretrain_depth,
    JobKind.TRAIN: stages.train,
    JobKind.SCORE: stages.score,
    JobKind.SELECT: stages.select_batch,
    JobKind.PREDICT: stages.predict,
    JobKind.QUEUE: queue.run,
    JobKind.VALIDATE_IMAGES: validate_images.run,
    JobKind.IMPORT_FRAMES: import_frames.run,
}
