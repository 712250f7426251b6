"""The FastAPI application: `create_app()` builds it; `app` is what uvicorn serves (`service.main:app`)."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from service.api.limits import RETRY_AFTER_SECONDS, RequestLimits
from service.api.router import api_router
from service.config import get_settings
from service.crud.users import ensure_admin
from service.db.session import get_engine, session_scope
from service.errors import ServiceError
from service.storable import problem
from service.web import mount as mount_web_app

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    settings.ensure_dirs()
    # Sync routes and dependencies run in this thread pool, each with at most one pooled connection: its size is
    # the pool's (service/db/session.py), so requests beyond it wait here instead of connecting afresh.
    to_thread.current_default_thread_limiter().total_tokens = settings.api_concurrency
    with session_scope() as session:
        ensure_admin(session=session, token=settings.admin_token)
    get_engine().dispose()  # requests use the API's own pool; an idle start-up connection would exceed the setting
    # Take the start-up heap (≈ 150,000 objects: modules, classes, routes, never garbage) out of the cyclic garbage
    # collector. A full collection scans every tracked object with the GIL held: it stalled each API process for
    # 70–140 ms every few seconds under load, every request in flight with it; after the freeze the largest pause
    # is ≈ 15–20 ms (benchmarks/results/history/annotation_queue.md, "Garbage-collector pauses"). Unfrozen at
    # shutdown, so an app started and stopped inside a longer-lived process (tests, `depthal up`) leaves nothing
    # uncollectable behind.
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def _service_error(_request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, ServiceError)
    return JSONResponse({"detail": err.detail}, status_code=err.status_code)


async def _database_busy(_request: Request, err: Exception) -> JSONResponse:
    """503 with Retry-After, never a 500: no pooled connection came free within api_pool_timeout_seconds, or the
    database refused or dropped the connection, or SQLite stayed locked. The driver's message names hosts and
    files, so it goes to the log, not to the client (issue 19)."""
    log.warning("database busy or unavailable: %s: %s", type(err).__name__, err)
    return JSONResponse(
        {"detail": "the database is busy or unavailable; retry shortly"},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _validation_error(_request: Request, err: Exception) -> JSONResponse:
    """FastAPI's own 422 body, except that an error's echo of the offending `input` is left out where JSON cannot
    carry it (NaN, lone surrogates: what service/storable.py refuses); echoing it made the refusal itself a 500."""
    assert isinstance(err, RequestValidationError)
    errors = jsonable_encoder(err.errors())
    for error in errors:
        if problem(error.get("input"), "input"):
            del error["input"]
    return JSONResponse({"detail": errors}, status_code=422)


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(
        title="depthal",
        summary="Active-learning annotation service for semantic segmentation, driven by self-supervised depth",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's own pages load Swagger UI / ReDoc from a CDN; ours is served locally (web)
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(PoolTimeout, _database_busy)
    app.add_exception_handler(OperationalError, _database_busy)
    app.add_middleware(RequestLimits)
    if settings.cors_origins:  # an explicit allow-list; none by default (the web app is same-origin)
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Retry-After", "X-Mask-Version", "X-Labeled-Images"],
        )
    app.include_router(api_router)
    mount_web_app(app, docs=settings.docs_enabled)  # the browser app at /app (docs/web.md), the API docs at /docs
    return app


app = create_app()
