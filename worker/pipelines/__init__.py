"""Pipelines join database rows to work: each is `run(ctx: JobContext) -> dict | None` (see worker/runner.py).

`BY_KIND` maps a job kind to its pipeline for the generic `TaskName.RUN_JOB`; model pipelines (torch) are added
by later issues and import torch inside their modules, never here at import time of the service.
"""

from __future__ import annotations

from service.db.tables import JobKind
from worker.pipelines import round_stages, rounds, validate_images
from worker.runner import Pipeline

BY_KIND: dict[str, Pipeline] = {
    JobKind.VALIDATE_IMAGES: validate_images.run,
    JobKind.SELECT: rounds.run,
    **round_stages.STAGES,
}
