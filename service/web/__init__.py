"""The browser app (docs/web.md): static files served at `/app` by the API process itself.

The page is plain ES modules and one CSS file from `service/web/static/` (package data; no build step, no Node.js).
It talks only to the public REST API with the user's bearer token, so it can do nothing another client cannot.
Every `/app` response carries a Content-Security-Policy that allows scripts, styles and connections from this
origin only (no inline scripts, no `eval`), images from here and from `blob:` URLs (the page decodes the image and
masks it fetched with the token), and no framing.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC_DIR = Path(__file__).with_name("static")
PREFIX = "/app"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob: data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    # the files change with the package: revalidate each time (ETag / Last-Modified make that a 304)
    (b"cache-control", b"no-cache"),
]


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every response of the wrapped app (the static files)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in SECURITY_HEADERS}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": kept + SECURITY_HEADERS}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def mount(app: FastAPI, *, docs: bool = True) -> None:
    """Serve the page at `/app/` (index.html) and its modules under it; `/app` redirects there. With `docs`, the
    API reference at `/docs`: a page of this package rendering /openapi.json (no CDN: it works offline)."""

    if docs:

        @app.get("/docs", include_in_schema=False)
        def _api_docs() -> FileResponse:
            headers = {k.decode(): v.decode() for k, v in SECURITY_HEADERS}
            return FileResponse(STATIC_DIR / "docs.html", media_type="text/html", headers=headers)

    @app.get(PREFIX, include_in_schema=False)
    def _app_root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=308)

    app.mount(PREFIX, SecurityHeaders(StaticFiles(directory=STATIC_DIR, html=True)), name="app")
