"""Shared fixtures: a migrated database on SQLite and on PostgreSQL, isolated per test, with settings pointing at
a temporary data directory.

`database` is parametrised over both backends (`db_backend` ids `sqlite` / `postgres`); tests that only need one
backend request `sqlite_database` or `postgres_database`. The PostgreSQL schema is migrated once per session and
truncated between tests (fast and leaves nothing behind); SQLite gets a fresh migrated file per test.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from service.config import get_settings

PG_URL = os.environ.get("DEPTHAL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/depthal_test")
REDIS_URL = os.environ.get("DEPTHAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def spare_redis_url(k: int) -> str:
    """The Redis db k below `REDIS_URL`'s (mod 16), for a test whose broker must not share the db others flush; with
    the default db 15: 13 for k = 2. Set DEPTHAL_TEST_REDIS_URL to move them all (parallel checkouts)."""
    base, db = REDIS_URL.rsplit("/", 1)
    return f"{base}/{(int(db) - k) % 16}"


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections for the test's duration: bound by this process but not listening,
    so nothing else can take it (a fixed "unused" port may be in use on another machine)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@dataclass
class Database:
    backend: str  # "sqlite" | "postgres"
    url: str
    data_dir: Path


def _reset_caches() -> None:
    from service.crud.users import forget_cached_tokens
    from service.db import session

    get_settings.cache_clear()
    session._session_factory.cache_clear()
    forget_cached_tokens()  # a truncated database must not be answered from another test's tokens


def _configure(monkeypatch: pytest.MonkeyPatch, data_dir: Path, url: str, **extra: str) -> None:
    monkeypatch.setenv("DEPTHAL_ENV", "test")
    monkeypatch.setenv("DEPTHAL_SECRET_KEY", "test-secret-key")
    monkeypatch.setenv("DEPTHAL_ADMIN_TOKEN", "test-admin-token")
    monkeypatch.setenv("DEPTHAL_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DEPTHAL_DATABASE_URL", url)
    for key, value in extra.items():
        monkeypatch.setenv(f"DEPTHAL_{key.upper()}", value)
    _reset_caches()
    get_settings().ensure_dirs()


@pytest.fixture(scope="session")
def _postgres_migrated() -> str:
    from service.migrate import upgrade

    engine = create_engine(PG_URL)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
    upgrade(PG_URL)
    return PG_URL


def _truncate_postgres(url: str, attempts: int = 5) -> None:
    """Empty every table. A live worker process of a module fixture sweeps leases and jobs in the background
    (`worker.sweeps`): its row locks can deadlock with TRUNCATE's table locks, and PostgreSQL may choose the
    TRUNCATE as the victim. The sweep is short, so the TRUNCATE is simply tried again."""
    from psycopg.errors import DeadlockDetected
    from sqlalchemy.exc import OperationalError

    from service.db.tables import Base

    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    engine = create_engine(url)
    try:
        for attempt in range(1, attempts + 1):
            try:
                with engine.begin() as conn:
                    conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
                return
            except OperationalError as err:
                if not isinstance(err.orig, DeadlockDetected) or attempt == attempts:
                    raise
                time.sleep(0.1 * attempt)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating every test's file costs ~1 s)."""
    from service.migrate import upgrade

    path = tmp_path_factory.mktemp("sqlite-template") / "depthal.sqlite"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_database(_sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    data_dir = tmp_path / "data"
    url = f"sqlite:///{data_dir / 'depthal.sqlite'}"
    data_dir.mkdir(parents=True)
    shutil.copyfile(_sqlite_template, data_dir / "depthal.sqlite")
    _configure(monkeypatch, data_dir, url)
    yield Database("sqlite", url, data_dir)
    _reset_caches()


@pytest.fixture
def postgres_database(_postgres_migrated: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    _truncate_postgres(_postgres_migrated)
    data_dir = tmp_path / "data"
    _configure(monkeypatch, data_dir, _postgres_migrated)
    yield Database("postgres", _postgres_migrated, data_dir)
    _reset_caches()


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> Database:
    """The same test on both backends."""
    return request.getfixturevalue(f"{request.param}_database")


# ---------------------------------------------------------------------------------------------------- the fast lane
SERVER_FIXTURES = {"postgres_database", "_postgres_migrated", "broker"}  # PostgreSQL, or Redis as the broker


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fast", action="store_true",
                     help="SQLite only, no PostgreSQL or Redis, no slow tests (scripts/test.sh --fast)")  # fmt: skip


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--fast"):
        return
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        needs_server = (
            bool(SERVER_FIXTURES & set(getattr(item, "fixturenames", ())))
            or params.get("database") == "postgres"
            or any(item.get_closest_marker(m) for m in ("slow", "postgres", "redis"))
        )
        (drop if needs_server else keep).append(item)
    config.hook.pytest_deselected(items=drop)
    items[:] = keep
