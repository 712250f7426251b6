"""`depthal worker`: a Celery worker on the GPU queue, one job at a time (solo pool, prefetch 1, late acks).

The service package never imports `worker/` (it would pull in the pipelines and, later, torch): this command
replaces itself with `celery -A worker.celery_app worker ...`.
"""

from __future__ import annotations

import argparse
import os
import sys

from cli.commands import require_models


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("worker", help="run a job worker (Celery, solo pool, queue gpu)")
    p.add_argument("--loglevel", default="INFO")
    p.add_argument("--hostname", default=None, help="Celery node name (default: celery@<host>)")
    p.set_defaults(func=run)


def celery_command(loglevel: str = "INFO", hostname: str | None = None) -> list[str]:
    from service.config import get_settings

    queue = get_settings().gpu_queue
    cmd = [
        sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker",
        "--pool=solo", "--concurrency=1", "--prefetch-multiplier=1", "-Q", queue, f"--loglevel={loglevel}",
    ]  # fmt: skip
    if hostname:
        cmd += ["--hostname", hostname]
    return cmd


def run(args: argparse.Namespace) -> int:
    require_models("worker")
    cmd = celery_command(args.loglevel, args.hostname)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(cmd[0], cmd)  # signals (Ctrl-C, SIGTERM from compose) go straight to Celery
    return 0  # not reached
