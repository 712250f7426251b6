"""Issue 19, items 1–2: a burst of requests against a real `depthal serve` on loopback, at a small scale.

Every request of the burst uses a token that is not in the server's token cache but was used within the last
minute (so the lookup does not write `last_used_at`): before the fix, that lookup's transaction stayed open across
the thread hand-off. On PostgreSQL the request then held a connection while waiting for a worker thread (pool and
thread pool locked each other until the pool timeout, and connections grew past the concurrency setting); on
SQLite it held the write lock and every other request waited on `busy_timeout`. The burst must now answer only
200, 429 or 503, quickly, with at most `api_concurrency` database connections, and the server must answer at
once afterwards. The full-scale version is benchmarks/overload.py."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import create_engine, text, update

from service.db.base import utcnow
from service.db.session import get_engine, session_scope
from service.db.tables import ApiToken, Role
from tests.conftest import Database
from tests.e2e.compose import depthal_executable
from tests.e2e.server import Server, free_port
from tests.factories import make_project, make_token
from tests.worker.procs import worker_env

CONCURRENCY = 2
BURST = 40  # requests at once, one connection each: 20 × the concurrency
CLIENT_TIMEOUT = 20.0  # seconds; before the fix requests waited 30 s (pool timeout, SQLite busy timeout)


_BACKENDS = text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    " AND NOT (pid = ANY(:earlier))"
)  # the backends connected to the test database since `earlier` was taken, the asking one excluded
_PIDS = text("SELECT array_agg(pid) FROM pg_stat_activity WHERE datname = current_database()")


def _backends_now(url: str) -> list[int]:
    """Backends connected to the test database now: pools of this test process (earlier tests' API sessions among
    them) that must not count as the server's."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(_PIDS).scalar_one() or [])
    finally:
        engine.dispose()


def _sample_backends(url: str, earlier: list[int], stop: threading.Event, peak: list[int]) -> None:
    """The most backends connected at once until `stop` that were not among `earlier`, sampled every 10 ms."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            while not stop.is_set():
                peak[0] = max(peak[0], int(conn.execute(_BACKENDS, {"earlier": earlier}).scalar_one()))
                conn.rollback()
                time.sleep(0.01)
    finally:
        engine.dispose()


def _in_own_thread(coroutine):  # type: ignore[no-untyped-def]
    """asyncio.run in a thread of its own: the test process may have a loop running in this one (Playwright's)."""
    out: list[object] = []
    runner = threading.Thread(target=lambda: out.append(asyncio.run(coroutine)))
    runner.start()
    runner.join()
    return out[0]


async def _burst(base: str, path: str, tokens: list[str]) -> tuple[list[int | str], float]:
    limits = httpx.Limits(max_connections=len(tokens), max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, timeout=CLIENT_TIMEOUT, limits=limits) as http:

        async def one(token: str) -> int | str:
            try:
                return (await http.get(path, headers={"Authorization": f"Bearer {token}"})).status_code
            except httpx.HTTPError as err:
                return type(err).__name__

        start = time.monotonic()
        codes = await asyncio.gather(*(one(t) for t in tokens))
        return list(codes), time.monotonic() - start


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_burst_of_uncached_tokens_answers_200_or_503_and_recovers(
    backend: str, request: pytest.FixtureRequest, tmp_path
) -> None:
    database: Database = request.getfixturevalue(f"{backend}_database")
    project_id = make_project(1)
    tokens = [make_token(f"burst{k:02d}", Role.ANNOTATOR) for k in range(BURST)]
    with session_scope() as session:  # used half a minute ago: the lookup will not write last_used_at
        session.execute(update(ApiToken).values(last_used_at=utcnow() - timedelta(seconds=30)))
    port = free_port()
    env = worker_env(
        data_dir=str(database.data_dir), database_url=database.url, env="test", secret_key="test-secret-key",
        admin_token="test-admin-token", api_concurrency=str(CONCURRENCY),
        # every request of the burst is let in: this tests the database path, not the in-flight caps
        api_max_in_flight=str(BURST), api_client_max_in_flight=str(BURST),
    )  # fmt: skip
    argv = [*depthal_executable(), "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    stop, peak = threading.Event(), [0]
    earlier = _backends_now(database.url) if backend == "postgres" else []
    with Server(argv, env, tmp_path / "server.log", port) as server:
        if backend == "postgres":
            get_engine().dispose()  # the test's own pool: every backend counted from here on is the server's
            args = (database.url, earlier, stop, peak)
            sampler = threading.Thread(target=_sample_backends, args=args, daemon=True)
            sampler.start()
        codes, took = _in_own_thread(_burst(server.base, f"/projects/{project_id}", tokens))
        stop.set()
        start = time.monotonic()
        after = httpx.get(f"{server.base}/projects/{project_id}", headers={"Authorization": f"Bearer {tokens[0]}"})
        recovery = time.monotonic() - start
    print(f"{backend}: {sorted(Counter(codes).items(), key=str)} in {took:.2f} s, recovery {recovery:.3f} s")
    unexpected = [c for c in codes if c not in (200, 429, 503)]
    assert not unexpected, f"statuses other than 200/429/503: {unexpected} (log: {server.log})"
    assert codes.count(200) >= CONCURRENCY, codes
    assert took < 10, f"the burst of {BURST} took {took:.1f} s"
    assert after.status_code == 200 and recovery < 1.0, f"first request after the burst: {recovery:.2f} s"
    if backend == "postgres":
        opened = peak[0]
        assert opened <= CONCURRENCY, f"the API opened {opened} connections; DEPTHAL_API_CONCURRENCY={CONCURRENCY}"
