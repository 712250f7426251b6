"""`depthal up`: the embedded service in one command: migrate, then the API and one worker as child processes.

Defaults need nothing installed beyond the package: SQLite database and SQLite broker under the data directory.
Ctrl-C or SIGTERM stops both children (API first, so no new jobs arrive; then the worker, which finishes or hands
back its current job) and reports how each ended. If either child dies, the other is stopped too.
"""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import sys
import time
import urllib.request
from types import FrameType

from cli.commands import require_models
from cli.commands.serve import check_port_free, refuse_unsafe_exposure
from cli.main import CLIError

log = logging.getLogger(__name__)
STOP_GRACE_SECONDS = 20


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("up", help="migrate, then run the API and one worker together (Ctrl-C stops both)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=run)


class _Stop(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise _Stop(signum)


def _wait_healthy(url: str, children: dict[str, subprocess.Popen[bytes]], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in children.items():
            if proc.poll() is not None:
                raise CLIError(f"the {name} exited with code {proc.returncode} while starting; see its log above")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise CLIError(f"the API did not answer {url} within {timeout:.0f} s")


def _stop(children: dict[str, subprocess.Popen[bytes]]) -> dict[str, int]:
    """SIGTERM each child in order and wait; SIGKILL what does not stop within the grace period."""
    codes = {}
    for name, proc in children.items():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                log.warning("the %s did not stop within %d s; killing it", name, STOP_GRACE_SECONDS)
                proc.kill()
                proc.wait()
        codes[name] = proc.returncode
    return codes


def run(args: argparse.Namespace) -> int:
    require_models("up")
    from cli.commands.worker import celery_command
    from service.config import get_settings
    from service.migrate import upgrade

    settings = get_settings()
    refuse_unsafe_exposure(args.host)
    check_port_free(args.host, args.port)
    settings.ensure_dirs()
    assert settings.database_url is not None
    upgrade(settings.database_url)
    log.info("data directory %s (database %s)", settings.data_dir, settings.database_url.split("://")[0])
    cli = [sys.executable, "-m", "cli"]
    commands = {
        "api": [*cli, "serve", "--host", args.host, "--port", str(args.port)],
        "worker": celery_command(),
    }
    children: dict[str, subprocess.Popen[bytes]] = {}
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    reason = "a child exited"
    try:
        # Own sessions: a terminal's Ctrl-C reaches only this process, which then stops the children in order.
        for name, cmd in commands.items():
            children[name] = subprocess.Popen(cmd, start_new_session=True)
        base = f"http://{args.host}:{args.port}"
        _wait_healthy(f"{base}/health", children)
        print(f"depthal is up: API {base} (docs {base}/docs), 1 worker; Ctrl-C stops both", flush=True)
        while all(proc.poll() is None for proc in children.values()):
            time.sleep(0.5)
        died = [f"{n} (code {p.returncode})" for n, p in children.items() if p.poll() is not None]
        reason = f"{', '.join(died)} exited"
    except _Stop as stop:
        reason = f"{stop} received"
    finally:
        for sig in previous:  # stopping is bounded by the grace period; a second Ctrl-C must not orphan children
            signal.signal(sig, signal.SIG_IGN)
        codes = _stop(children)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    # uvicorn re-raises the SIGTERM it handled once it has shut down gracefully, so -SIGTERM is a clean stop too.
    clean = {name: code in (0, -signal.SIGTERM) for name, code in codes.items()}
    ends = [f"{n} stopped cleanly" if clean[n] else f"{n} exited with {c}" for n, c in codes.items()]
    print(f"depthal stopped ({reason}): {', '.join(ends)}", flush=True)
    return 0 if reason.endswith("received") and all(clean.values()) else 1
