"""Issue 19, items 1 and 3: what a request may take before the application sees it (service/api/limits.py), and
503 with Retry-After when no database connection comes free in time.

The middleware is driven as an ASGI app with hand-written `receive` callables, so a test can see whether the body
was read at all, and a client that never finishes its body costs no socket."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.limits import RequestLimits
from service.db.tables import Role
from tests.conftest import Database, _configure
from tests.factories import make_token


class Downstream:
    """The application behind the middleware: answers 200 with the body it got, or waits for `release`."""

    def __init__(self, hold: bool = False) -> None:
        self.hold, self.calls, self.release = hold, 0, asyncio.Event()

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        self.calls += 1
        body = (await receive())["body"] if scope["method"] == "PUT" else b""
        if self.hold:
            await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


def _scope(method: str = "PUT", token: str | None = None, client: str = "10.0.0.1") -> dict[str, Any]:
    headers = [(b"content-type", b"image/png")]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    return {"type": "http", "method": method, "path": "/images/1/mask", "headers": headers, "client": (client, 5000)}


async def _call(app: Callable, scope: dict, receive: Callable) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], dict(sent[0]["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


def test_a_body_is_not_read_before_its_token_is_checked(sqlite_database: Database) -> None:
    """Before: the middleware buffered up to 25 MiB of anyone's body, then the route answered 401."""
    reads: list[int] = []

    async def receive() -> dict:
        reads.append(1)
        return {"type": "http.request", "body": b"x" * 1000, "more_body": False}

    downstream = Downstream()
    app = RequestLimits(downstream)
    for token in (None, "dal_not-a-token"):
        status, headers, body = asyncio.run(_call(app, _scope(token=token), receive))
        assert status == 401 and headers[b"www-authenticate"] == b"Bearer", body
    assert reads == [] and downstream.calls == 0
    token = make_token("ann", Role.ANNOTATOR)
    status, _, body = asyncio.run(_call(app, _scope(token=token), receive))
    assert status == 200 and body == b"x" * 1000 and reads == [1]


def test_a_body_trickling_past_the_deadline_is_refused_with_408(
    sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: no deadline; a client sending one byte now and then held its connection and buffer for ever."""
    _configure(monkeypatch, sqlite_database.data_dir, sqlite_database.url, body_read_timeout_seconds="0.3")
    token = make_token("ann", Role.ANNOTATOR)

    async def trickle() -> dict:
        await asyncio.sleep(0.05)
        return {"type": "http.request", "body": b"x", "more_body": True}

    async def bounded() -> tuple[int, dict[bytes, bytes], bytes]:
        return await asyncio.wait_for(_call(RequestLimits(Downstream()), _scope(token=token), trickle), 5)

    status, headers, body = asyncio.run(bounded())
    assert status == 408 and b"did not arrive within 0.3 s" in body and headers[b"connection"] == b"close"


def test_requests_past_the_in_flight_caps_get_429_per_client_and_503_overall(
    sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _configure(
        monkeypatch, sqlite_database.data_dir, sqlite_database.url, api_max_in_flight="3", api_client_max_in_flight="2"
    )
    downstream = Downstream(hold=True)
    app = RequestLimits(downstream)

    async def nothing() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def scenario() -> list[int]:
        held = [asyncio.create_task(_call(app, _scope("GET", client="10.0.0.1"), nothing)) for _ in range(2)]
        await asyncio.sleep(0.05)
        refused = [await _call(app, _scope("GET", client="10.0.0.1"), nothing)]  # a third from the same address
        held.append(asyncio.create_task(_call(app, _scope("GET", client="10.0.0.2"), nothing)))
        await asyncio.sleep(0.05)
        refused.append(await _call(app, _scope("GET", client="10.0.0.3"), nothing))  # a fourth overall
        liveness = _scope("GET", client="10.0.0.3") | {"path": "/health"}
        downstream.hold = False
        refused.append(await _call(app, liveness, nothing))  # never refused
        downstream.release.set()
        done = [await task for task in held]
        after = await _call(app, _scope("GET", client="10.0.0.1"), nothing)  # the slots are free again
        for _, headers, _ in refused[:2]:
            assert headers[b"retry-after"] == b"1"
        return [r[0] for r in refused] + [d[0] for d in done] + [after[0]]

    assert asyncio.run(scenario()) == [429, 503, 200, 200, 200, 200, 200]


def test_no_free_connection_within_the_pool_timeout_answers_503_with_retry_after(
    postgres_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: a pool of 20 + 40 overflow whatever the concurrency, and 30 s of waiting, then a 500."""
    _configure(
        monkeypatch, postgres_database.data_dir, postgres_database.url,
        api_concurrency="1", api_pool_timeout_seconds="0.2",
    )  # fmt: skip
    from service.db.session import api_session
    from service.main import create_app

    with TestClient(create_app()) as client, api_session() as holder:
        holder.connection()  # the pool's one connection, held as a stuck request would
        res = client.get("/health/db")
        holder.rollback()
        assert res.status_code == 503 and res.headers["retry-after"] == "1", res.text
        assert res.json()["detail"] == "the database is busy or unavailable; retry shortly"
        assert client.get("/health/db").status_code == 200
