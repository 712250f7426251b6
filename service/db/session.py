"""Engine and sessions. One engine per database URL per process.

SQLite (embedded mode) gets WAL, foreign keys, a busy timeout, and `BEGIN IMMEDIATE` for every transaction: writers
are serialised by the database itself, which is how the annotation queue stays correct without row locks there.
PostgreSQL uses `SELECT … FOR UPDATE SKIP LOCKED` in the queue instead (service/queue.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from service.config import get_settings

POOL_SIZE = 10  # connections kept open by the worker's and the CLI's engine; the API's keeps api_concurrency


@lru_cache(maxsize=8)
def make_engine(
    url: str, *, pre_ping: bool = True, pool_size: int = POOL_SIZE, max_overflow: int = 40, pool_timeout: float = 30
) -> Engine:
    """`pre_ping=False` for the API: a ping is one more round trip on every request. A connection broken since its
    last use (database restarted) then fails one request, and SQLAlchemy invalidates the whole pool on that error,
    so the following requests reconnect; `pool_recycle` replaces connections before server-side idle timeouts.
    The worker and the CLI keep the ping: they sit idle for long stretches and a failed job costs more.

    `pool_size` connections stay open once made; the API passes its concurrency (settings.api_concurrency), since
    a connection beyond the pool size is closed when returned: 32 annotators on a pool of 10 made PostgreSQL fork
    ≈ 17 new backends a second (benchmarks/results/history/annotation_queue.md, "Connections kept open"). The API
    has no overflow and a short `pool_timeout`: its connections never exceed the concurrency setting, and a request
    that cannot get one in time answers 503 (service/main.py) instead of queueing for the default 30 s. The worker's
    and the CLI's overflow is a margin."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(
            url,
            pool_pre_ping=pre_ping,
            pool_recycle=1800,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
        )
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # let SQLAlchemy's "begin" event below emit BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin_immediate(conn):  # type: ignore[no-untyped-def]
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def get_engine() -> Engine:
    url = get_settings().database_url
    assert url is not None
    return make_engine(url)


@lru_cache(maxsize=8)
def _session_factory(url: str, *, api: bool = False) -> sessionmaker[Session]:
    if make_url(url).get_backend_name() == "sqlite":  # one engine (one file lock holder pool) for API and worker
        return sessionmaker(bind=make_engine(url), expire_on_commit=False)
    if not api:
        return sessionmaker(bind=make_engine(url), expire_on_commit=False)
    settings = get_settings()
    engine = make_engine(
        url,
        pre_ping=False,
        pool_size=settings.api_concurrency,
        max_overflow=0,
        pool_timeout=settings.api_pool_timeout_seconds,
    )
    return sessionmaker(bind=engine, expire_on_commit=False)


def api_session() -> Session:
    """A new session for one API request (no pre-ping, a pool as large as the API's concurrency and no overflow: see
    make_engine). Creating it does no I/O: it connects on its first statement. A request holds the connection only
    inside a worker thread: whatever runs in one ends its transaction there (service/api/deps.py), since a
    connection held while waiting for the next thread can lock the pool and the thread pool against each other."""
    settings = get_settings()
    assert settings.database_url is not None
    return _session_factory(settings.database_url, api=True)()


@contextmanager
def session_scope() -> Iterator[Session]:
    """For the worker and the CLI: commit on success, roll back on error."""
    url = get_settings().database_url
    assert url is not None
    with _session_factory(url)() as session, session.begin():
        yield session


@contextmanager
def stepwise_session() -> Iterator[Session]:
    """For the worker and the CLI, for work that commits step by step itself (the Label Studio sync); whatever the
    last step left uncommitted is rolled back on close."""
    url = get_settings().database_url
    assert url is not None
    with _session_factory(url)() as session:
        yield session
