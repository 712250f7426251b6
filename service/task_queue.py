"""The Celery *client* side: task names and `enqueue`. No task bodies here (those live in `worker/`), so the API
never imports torch. Tasks are sent by name with the job's id only; the job row is committed before sending.
"""

from __future__ import annotations

from functools import lru_cache

from celery import Celery

from service.config import Settings, get_settings
from service.db.tables import JobKind

# One Celery task per job kind, named after it (a worker's log and Flower show which stage runs); every task takes
# the job's id. The worker registers exactly these (worker/tasks.py).
TASKS: dict[JobKind, str] = {kind: f"depthal.{kind.value}" for kind in JobKind}
ADVANCE_ROUND = "depthal.advance_round"  # sends a round's next stage: the body of the scoring shards' chord


def celery_config(settings: Settings) -> dict[str, object]:
    """Celery settings shared by the API's client and the worker (design.md: one job at a time, late acks)."""
    conf: dict[str, object] = {
        "broker_url": settings.broker_url,
        "task_ignore_result": True,  # job state lives in the database, not in a result backend
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,  # a crashed worker's task is redelivered, not dropped
        "worker_prefetch_multiplier": 1,
        "task_default_queue": settings.gpu_queue,
        "task_serializer": "json",
        "accept_content": ["json"],
        "broker_connection_retry_on_startup": True,
    }
    if str(settings.broker_url).startswith("sqla+"):
        conf["broker_transport_options"] = {}  # these go to create_engine for the sqla transport
    return conf


@lru_cache(maxsize=4)
def _client(broker_url: str) -> Celery:
    settings = get_settings()
    app = Celery("depthal-client")
    app.conf.update(celery_config(settings))
    return app


def client() -> Celery:
    settings = get_settings()
    assert settings.broker_url is not None
    return _client(settings.broker_url)


def enqueue(kind: JobKind | str, job_id: int) -> str:
    """Send the task of a job of `kind` to the GPU queue; returns the Celery task id (stored on the job row)."""
    settings = get_settings()
    result = client().send_task(TASKS[JobKind(kind)], args=[job_id], queue=settings.gpu_queue)
    return str(result.id)


def check_broker(timeout: float = 1.0) -> None:
    """Raise if the broker cannot be reached within about `timeout` seconds (readiness probe)."""
    with client().connection_for_write(connect_timeout=timeout) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
