"""Request body size limit, enforced before the application reads anything.

The body is buffered up to `max_upload_bytes` (bounded memory) and refused with 413 as soon as it grows past the
limit, whether or not the client announced a Content-Length (chunked uploads are counted as they arrive).

A video upload (`POST /projects/{id}/videos`) is not buffered: it streams through to the route (which writes it to
disk in chunks) under its own limit, `max_video_bytes`, and is cut off with the same 413 once it passes it.
"""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.config import get_settings

_WITH_BODY = {"POST", "PUT", "PATCH"}
_STREAMED = re.compile(r"^/projects/[^/]+/videos/?$")  # POST only: the video upload


class _TooLarge(Exception):
    """Raised into the application when a streamed body passes its limit."""


class BodySizeLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        streamed = scope["method"] == "POST" and _STREAMED.match(scope["path"]) is not None
        settings = get_settings()
        limit = settings.max_video_bytes if streamed else settings.max_upload_bytes
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await _refuse(send, limit)
            return
        if streamed:
            await _stream(self.app, scope, receive, send, limit)
            return
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            total += len(body)
            if total > limit:
                await _refuse(send, limit)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


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
        await _refuse(send, limit)


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"request body exceeds the upload limit of {limit} bytes"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
