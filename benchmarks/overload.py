"""Does the API bend under a burst instead of breaking? 200 connections for 10 s against one `depthal serve` process.

Issue 19's reproduction, wrk-style (every connection sends its next request as soon as the last one answered, no
back-off), on PostgreSQL and on embedded SQLite: each connection has its own token, used half a minute ago and not
in the server's cache (the case that stalled SQLite for minutes). Run twice per database: with the default in-flight
caps (all connections come from one address, so the per-client cap answers most of them 429) and with the caps
lifted to the burst's size (as 200 separate clients would see it: the database path is what is loaded).

Reported: status counts, other 5xx, how long after the burst's end the last request answered, the most database
connections open at once (PostgreSQL: pg_stat_activity, sampled every 10 ms, the benchmark's own excluded), and the
first request's latency after the burst (recovery). Target (issue 19): only 200/429/503, all answered within 2 s of
the end, connections ≤ DEPTHAL_API_CONCURRENCY, recovery ≤ 1 s.

    python -m benchmarks.overload [--quick] [--connections 200] [--seconds 10] [--concurrency 5]
        [--url postgresql+psycopg://postgres@127.0.0.1:5432/depthal_bench_overload]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text, update

from benchmarks import REPO
from benchmarks.api_routes import _fresh_database

ADMIN = "bench-admin-token-0123456789"
_BACKENDS = text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")


@dataclass
class Result:
    codes: Counter[int | str] = field(default_factory=Counter)
    last_after_end: float = 0.0  # seconds from the burst's end to its last answer
    peak_connections: int | None = None
    recovery: float = float("nan")


def _seed(url: str, data: str, connections: int) -> tuple[int, list[str]]:
    """A project and one token per connection, each last used 30 s ago (the lookup writes nothing)."""
    os.environ.update({"DEPTHAL_DATABASE_URL": url, "DEPTHAL_DATA_DIR": data, "DEPTHAL_ADMIN_TOKEN": ADMIN})
    from service.config import get_settings
    from service.db.base import utcnow
    from service.db.session import session_scope
    from service.db.tables import ApiToken, Project, Role
    from tests.factories import make_token

    get_settings.cache_clear()
    with session_scope() as session:
        project = Project(name="burst", label_budget=10, round_schedule=[2], settings={})
        session.add(project)
        session.flush()
        project_id = project.id
    tokens = [make_token(f"burst{k:03d}", Role.ANNOTATOR) for k in range(connections)]
    with session_scope() as session:
        session.execute(update(ApiToken).values(last_used_at=utcnow() - timedelta(seconds=30)))
    from service.db import session as db_session

    db_session.get_engine().dispose()  # the seeding's connections would count against the server's
    db_session.make_engine.cache_clear()
    db_session._session_factory.cache_clear()
    return project_id, tokens


def _sample(url: str, stop: threading.Event, peak: list[int]) -> None:
    engine = create_engine(url)
    with engine.connect() as conn:
        while not stop.is_set():  # the server's connections (its start-up engine keeps one idle) and nothing else
            peak[0] = max(peak[0], int(conn.execute(_BACKENDS).scalar_one()))
            conn.rollback()
            time.sleep(0.01)
    engine.dispose()


async def _burst(base: str, path: str, tokens: list[str], seconds: float, result: Result) -> None:
    limits = httpx.Limits(max_connections=len(tokens), max_keepalive_connections=len(tokens))
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        end = time.monotonic() + seconds

        async def connection(token: str) -> None:
            headers = {"Authorization": f"Bearer {token}"}
            while time.monotonic() < end:
                try:
                    code: int | str = (await http.get(path, headers=headers)).status_code
                except httpx.HTTPError as err:
                    code = type(err).__name__
                result.codes[code] += 1
                result.last_after_end = max(result.last_after_end, time.monotonic() - end)

        await asyncio.gather(*(connection(t) for t in tokens))


def run(backend: str, url: str, args: argparse.Namespace, caps_lifted: bool) -> Result:
    with tempfile.TemporaryDirectory() as data:
        if backend == "sqlite":
            url = f"sqlite:///{Path(data) / 'depthal.sqlite'}"
            from service.migrate import upgrade

            upgrade(url)
        else:
            _fresh_database(url)
        project_id, tokens = _seed(url, data, args.connections)
        env = os.environ | {"DEPTHAL_API_CONCURRENCY": str(args.concurrency)}
        if caps_lifted:
            env |= {"DEPTHAL_API_MAX_IN_FLIGHT": str(args.connections),
                    "DEPTHAL_API_CLIENT_MAX_IN_FLIGHT": str(args.connections)}  # fmt: skip
        argv = [sys.executable, "-m", "cli", "serve", "--port", str(args.port), "--log-level", "error"]
        server = subprocess.Popen(argv, env=env, cwd=REPO)
        base = f"http://127.0.0.1:{args.port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            result, stop, peak = Result(), threading.Event(), [0]
            sampler = threading.Thread(target=_sample, args=(url, stop, peak)) if backend == "postgres" else None
            if sampler:
                sampler.start()
            asyncio.run(_burst(base, f"/projects/{project_id}", tokens, args.seconds, result))
            start = time.monotonic()
            after = httpx.get(f"{base}/projects/{project_id}", headers={"Authorization": f"Bearer {tokens[0]}"},
                              timeout=300)  # fmt: skip
            result.recovery = time.monotonic() - start
            result.codes[f"after: {after.status_code}"] += 1
            stop.set()
            if sampler:
                sampler.join()
                result.peak_connections = peak[0]
            return result
        finally:
            server.terminate()
            server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.overload", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/depthal_bench_overload")
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=5, help="DEPTHAL_API_CONCURRENCY of the server")
    parser.add_argument("--quick", action="store_true", help="50 connections for 3 s")
    parser.add_argument("--port", type=int, default=8792)
    args = parser.parse_args()
    if args.quick:
        args.connections, args.seconds = 50, 3.0
    print(f"{args.connections} connections × {args.seconds:g} s, DEPTHAL_API_CONCURRENCY={args.concurrency}\n")
    print(
        "| database | in-flight caps | 200 | 429 | 503 | other | last answer after the end | max DB connections "
        "| recovery |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for backend in ("postgres", "sqlite"):
        for lifted in (False, True):
            r = run(backend, args.url, args, lifted)
            other = {k: v for k, v in r.codes.items() if k not in (200, 429, 503) and not str(k).startswith("after")}
            peak = "—" if r.peak_connections is None else str(r.peak_connections)
            caps = f"lifted to {args.connections}" if lifted else "defaults"
            print(f"| {backend} | {caps} | {r.codes[200]} | {r.codes[429]} | {r.codes[503]} | {other or 0} "
                  f"| {r.last_after_end:.2f} s | {peak} | {r.recovery * 1000:.0f} ms |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
