"""Thin Celery tasks: job id in, the job's status out. All state lives in the `job` row (worker/runner.py).

One task per job kind, named by `service.task_queue.TASKS` (the API sends them by name, so it never imports this
module), running the kind's pipeline from `worker.jobs.PIPELINES`; after a round's job succeeds, the round's next
stage is sent. Scoring shards sent together are a chord's header: the chord's body advances the round once.
"""

from __future__ import annotations

from celery import Task
from celery.signals import worker_ready

from service.db.tables import JobKind
from service.task_queue import ADVANCE_ROUND, TASKS
from worker.celery_app import app
from worker.jobs import PIPELINES
from worker.round.advance import advance, advance_after
from worker.runner import JobContext, run_job
from worker.sweeps import start_sweeping


def _register(kind: JobKind) -> None:
    def pipeline(ctx: JobContext) -> dict | None:
        return PIPELINES[kind](ctx)  # looked up now: a test app may have replaced it

    @app.task(name=TASKS[kind], bind=True, ignore_result=kind != JobKind.SCORE)
    def run(self: Task, job_id: int) -> str:
        status = run_job(job_id, pipeline, task_id=self.request.id)
        if not self.request.chord:  # a chord's shards are joined by its body instead
            advance_after(job_id)
        return status


for _kind in JobKind:
    _register(_kind)


@app.task(name=ADVANCE_ROUND)
def advance_round_task(round_id: int) -> list[int]:
    """The chord's body (after the last shard): send the round's next stage."""
    return advance(round_id)


@worker_ready.connect
def _on_worker_ready(**_: object) -> None:
    start_sweeping()
