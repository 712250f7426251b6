"""What a request may take before the application sees it: a place among the requests in flight, and for a body,
a valid token, a size limit and a deadline (issue 19, items 1 and 3).

- In flight: at most `api_max_in_flight` requests per process (503) and `api_client_max_in_flight` per client
  address (429), both with `Retry-After`. A burst beyond what the thread pool can work through is answered at once
  instead of queueing until clients time out. `GET /health` (liveness) is never refused.
- Bodies (POST, PUT, PATCH): the token is checked before a byte of the body is read (401 costs the server no
  buffer); the body is buffered up to `max_upload_bytes` (413 as soon as it grows past it, announced or chunked) and
  must arrive within `body_read_timeout_seconds` (408). Every route that takes a body needs a token, but Label
  Studio's webhook and ML-backend calls, whose routes check their own credentials.
- A video upload (`POST /projects/{id}/videos`) is not buffered: after the token check it streams through to the
  route (which writes it to disk in chunks) under its own limit, `max_video_bytes`, and is cut off with the same 413
  once it passes it. It has no overall deadline (gigabytes take minutes); the per-client cap bounds how many
  uploads one address holds open.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import anyio
from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.deps import authenticate, bearer_token
from service.config import get_settings
from service.db.session import api_session

_WITH_BODY = {"POST", "PUT", "PATCH"}
_STREAMED = re.compile(r"^/projects/[^/]+/videos/?$")  # POST only: the video upload
# Label Studio's calls carry their own credentials (the webhook's secret header, the ML backend's basic auth), which
# their routes check; they get the size limit and the deadline but no bearer-token check here.
_OWN_CREDENTIALS = re.compile(r"^/labelstudio/(webhook/[^/]+|ml/[^/]+/[^/]+)/?$")
RETRY_AFTER_SECONDS = 1


class _TooLarge(Exception):
    """Raised into the application when a streamed body passes its limit."""


class RequestLimits:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.in_flight = 0
        self.per_client: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"] == "GET" and scope["path"] == "/health"):
            await self.app(scope, receive, send)
            return
        settings = get_settings()
        client = scope["client"][0] if scope.get("client") else "unknown"
        assert settings.api_max_in_flight is not None and settings.api_client_max_in_flight is not None
        if self.in_flight >= settings.api_max_in_flight:
            await _answer(send, 503, "the server is busy; retry shortly", retry=True)
            return
        if self.per_client[client] >= settings.api_client_max_in_flight:
            limit = settings.api_client_max_in_flight
            await _answer(send, 429, f"more than {limit} requests in flight from your address; retry", retry=True)
            return
        self.in_flight += 1
        self.per_client[client] += 1
        try:
            if scope["method"] in _WITH_BODY:
                await self._with_body(scope, receive, send)
            else:
                await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            self.per_client[client] -= 1
            if self.per_client[client] <= 0:
                del self.per_client[client]

    async def _with_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings = get_settings()
        headers = dict(scope["headers"])
        if not _OWN_CREDENTIALS.match(scope["path"]):
            try:
                token = bearer_token(headers.get(b"authorization", b"").decode("latin-1"))
                with api_session() as session:
                    user = await authenticate(session, token)
            except HTTPException as err:
                await _answer(send, err.status_code, str(err.detail), headers=err.headers)
                return
            scope.setdefault("state", {})["user"] = user  # read by service/api/deps.py:get_current_user
        streamed = scope["method"] == "POST" and _STREAMED.match(scope["path"]) is not None
        limit = settings.max_video_bytes if streamed else settings.max_upload_bytes
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await _answer(send, 413, _too_large(limit))
            return
        if streamed:
            await _stream(self.app, scope, receive, send, limit)
            return
        chunks: list[bytes] = []
        total = 0
        with anyio.move_on_after(settings.body_read_timeout_seconds) as deadline:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body = message.get("body", b"")
                total += len(body)
                if total > limit:
                    await _answer(send, 413, _too_large(limit))
                    return
                chunks.append(body)
                if not message.get("more_body", False):
                    break
        if deadline.cancelled_caught:
            seconds = settings.body_read_timeout_seconds
            await _answer(send, 408, f"the request body did not arrive within {seconds:g} s")
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _too_large(limit: int) -> str:
    return f"request body exceeds the upload limit of {limit} bytes"


async def _stream(app: ASGIApp, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    """Pass the body through while counting it; past the limit the application's read fails and whatever it answers
    is replaced by the 413."""
    total, over, started = 0, False, False

    async def counted() -> Message:
        nonlocal total, over
        message = await receive()
        if message["type"] == "http.request":
            total += len(message.get("body", b""))
            if total > limit:
                over = True
                raise _TooLarge
        return message

    async def guarded(message: Message) -> None:
        nonlocal started
        if over:
            return
        started = started or message["type"] == "http.response.start"
        await send(message)

    try:
        await app(scope, counted, guarded)
    except Exception:
        if not over:  # _TooLarge itself, or what the application made of it
            raise
    if over and not started:
        await _answer(send, 413, _too_large(limit))


async def _answer(
    send: Send, status: int, detail: str, *, retry: bool = False, headers: dict[str, str] | None = None
) -> None:
    body = json.dumps({"detail": detail}).encode()
    extra = dict(headers or {}) | ({"Retry-After": str(RETRY_AFTER_SECONDS)} if retry else {})
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
    if status == 408:
        raw.append((b"connection", b"close"))  # the rest of the body may still be on its way
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
