"""The API's PostgreSQL connections: a burst of requests reuses the pool's connections instead of opening new ones.

Before `api_concurrency`, the API ran up to 40 requests at once on a pool that kept 10 connections, so every
connection beyond the tenth was closed when returned and opened again by the next burst: PostgreSQL forked ≈ 17
backends a second under 32 annotators (benchmarks/results/history/annotation_queue.md, "Connections kept open")."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from tests.conftest import Database, _configure

CONCURRENCY = 4
BURST = 12  # requests sent at once, three times: more than the API may run at once


def test_bursts_reuse_connections_and_never_exceed_the_concurrency(
    postgres_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _configure(
        monkeypatch, postgres_database.data_dir, postgres_database.url, api_concurrency=str(CONCURRENCY),
        api_client_max_in_flight=str(BURST),  # every request is let in: this tests the pool, not the caps
    )  # fmt: skip
    from service.db.session import api_session
    from service.main import create_app

    with api_session() as session:
        engine = session.get_bind()
    connects: list[int] = []
    in_use, peak = [0], [0]
    lock = threading.Lock()

    @event.listens_for(engine, "connect")
    def _connected(*_args: object) -> None:
        connects.append(1)

    @event.listens_for(engine, "checkout")
    def _checked_out(*_args: object) -> None:
        with lock:
            in_use[0] += 1
            peak[0] = max(peak[0], in_use[0])
        time.sleep(0.02)  # hold the connection a little, so the burst's requests overlap

    @event.listens_for(engine, "checkin")
    def _checked_in(*_args: object) -> None:
        with lock:
            in_use[0] -= 1

    try:
        with TestClient(create_app()) as client, ThreadPoolExecutor(BURST) as threads:
            connects.clear()  # count from the first burst on (start-up's own connection aside)
            for _ in range(3):
                codes = list(threads.map(lambda _: client.get("/health/db").status_code, range(BURST)))
                assert codes == [200] * BURST
    finally:
        event.remove(engine, "connect", _connected)
        event.remove(engine, "checkout", _checked_out)
        event.remove(engine, "checkin", _checked_in)
    assert peak[0] == CONCURRENCY, f"at most {CONCURRENCY} requests may hold a connection at once; saw {peak[0]}"
    # every connection opened stays in the pool: the second and third bursts open none
    assert len(connects) <= CONCURRENCY, f"{len(connects)} connections opened for 3 bursts of {BURST} requests"
