"""The real worker app with a model-free round and one slow selection strategy, for tests about the service around
the model, and tests that must catch a job mid-run (cancel, kill).

Started exactly like production: `celery -A tests.worker.slow_app worker ...`. The round's plan stage is replaced by
the plain round (tests/worker/plain_round.py) through the worker's one table of pipelines, `worker.jobs.PIPELINES`;
every other job kind runs as in production.
"""

from __future__ import annotations

import time

from service.db.tables import JobKind
from tests.worker import plain_round
from worker.celery_app import app
from worker.jobs import PIPELINES


def slow_random(inp: plain_round.RoundInput) -> list[plain_round.Pick]:
    steps = int(inp.ctx.params.get("steps", 40))
    for k in range(steps):
        inp.ctx.progress("thinking slowly", k / steps, f"step {k}/{steps}")
        time.sleep(float(inp.ctx.params.get("sleep", 0.1)))
    return plain_round.random_strategy(inp)


plain_round.STRATEGIES["slow_random"] = slow_random
PIPELINES[JobKind.PLAN] = plain_round.run

__all__ = ["app"]
