"""The worker's Celery app: `celery -A worker.celery_app worker` (or `depthal worker`).

Configuration comes from `service.task_queue.celery_config`, shared with the API's client, plus what only a
consumer needs: the `gpu` queue, the solo pool (one job at a time per process, design.md), and broker details.
"""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from service.config import Settings, get_settings
from service.task_queue import celery_config


def worker_config(settings: Settings) -> dict[str, object]:
    conf = celery_config(settings)
    conf.update(
        task_queues=[Queue(settings.gpu_queue)],
        worker_pool="solo",
        worker_concurrency=1,
        worker_prefetch_multiplier=1,
        task_acks_late=True,
        worker_hijack_root_logger=False,
    )
    broker = str(settings.broker_url)
    # A result backend only for the chord that joins pool-scoring shards (its header tasks report to it); every
    # other task ignores its result, since job state lives in the database.
    if broker.startswith("redis"):
        conf["result_backend"] = broker
    elif broker.startswith("sqla+"):
        conf["result_backend"] = f"db+sqlite:///{settings.data_dir / 'results.sqlite'}"
    conf["result_expires"] = 3600
    if broker.startswith("redis"):
        # acks_late: a task whose worker died stays unacknowledged; Redis hands it out again after the visibility
        # timeout. The restore sweep runs every `unacked_restore_interval` seconds (and once at worker start).
        conf["broker_transport_options"] = {
            "visibility_timeout": settings.broker_visibility_timeout_seconds,
            "unacked_restore_interval": min(10, settings.broker_visibility_timeout_seconds),
            "unacked_restore_throttle": 1,
        }
    return conf


def _configure_sqlite_broker(settings: Settings) -> None:
    # For kombu's sqla transport, broker_transport_options go to create_engine, and a `polling_interval` there
    # crashes the worker; the interval is a class attribute of the transport instead (docs/environment.md).
    if str(settings.broker_url).startswith("sqla+"):
        from kombu.transport import sqlalchemy as kombu_sqla

        kombu_sqla.Transport.polling_interval = settings.broker_poll_seconds


def create_app(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    _configure_sqlite_broker(settings)
    app = Celery("depthal", include=["worker.tasks"])
    app.conf.update(worker_config(settings))
    return app


app = create_app()
