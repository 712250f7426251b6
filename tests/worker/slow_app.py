"""The real worker app plus one slow selection strategy, for tests that must catch a job mid-run (cancel, kill).

Started exactly like production: `celery -A tests.worker.slow_app worker ...`. The strategy is added through the
pipeline's strategy dict, the same way the depth-driven strategies plug in.
"""

from __future__ import annotations

import time

from worker.celery_app import app
from worker.pipelines import rounds


def slow_random(inp: rounds.RoundInput) -> list[rounds.Pick]:
    steps = int(inp.ctx.params.get("steps", 40))
    for k in range(steps):
        inp.ctx.progress("thinking slowly", k / steps, f"step {k}/{steps}")
        time.sleep(float(inp.ctx.params.get("sleep", 0.1)))
    return rounds.random_strategy(inp)


rounds.STRATEGIES["slow_random"] = slow_random

__all__ = ["app"]
