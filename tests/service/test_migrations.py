"""Migrations: empty → head gives exactly the ORM's tables (autogenerate finds nothing), and down/up round-trips."""

from __future__ import annotations

import os
import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from service.db.tables import Base
from service.migrate import downgrade, upgrade
from tests.conftest import Database
from tests.worker.procs import REPO as REPO_ROOT

QUEUE_FUNCTIONS = {"depthal_next_lease", "depthal_submit_mask"}  # migration 0002, PostgreSQL only


def _diff(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(ctx, Base.metadata))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_matches_orm_and_round_trips(database: Database) -> None:
    url = database.url
    if database.backend == "sqlite":  # the fixture's file is migrated already: start from an empty one
        url = f"sqlite:///{database.data_dir / 'fresh.sqlite'}"
    else:
        downgrade(url)
        assert _tables(url) == set()
    upgrade(url)
    assert _tables(url) == set(Base.metadata.tables)
    assert _diff(url) == []
    downgrade(url)
    assert _tables(url) == set()
    upgrade(url)
    assert _diff(url) == []
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() is not None
    engine.dispose()


def _functions(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            names = conn.execute(text("SELECT proname FROM pg_proc WHERE proname LIKE 'depthal%'")).scalars()
            return set(names)
    finally:
        engine.dispose()


def test_queue_functions_come_and_go_with_revision_0002(postgres_database: Database) -> None:
    url = postgres_database.url
    assert _functions(url) == QUEUE_FUNCTIONS
    downgrade(url, "0001")
    assert _functions(url) == set()
    later = {"frame_sequence", "labelstudio_task", "membership"}  # revisions 0006's, 0007's and 0008's
    assert _tables(url) == set(Base.metadata.tables) - later  # 0001's tables stay; only the functions went
    upgrade(url)
    assert _functions(url) == QUEUE_FUNCTIONS


def test_db_upgrade_from_an_empty_postgres_database(postgres_database: Database) -> None:
    url = make_url(postgres_database.url)
    fresh = url.set(database=f"{url.database}_fresh")
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{fresh.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{fresh.database}"'))
    try:
        env = os.environ | {"DEPTHAL_DATABASE_URL": fresh.render_as_string(hide_password=False)}
        done = subprocess.run([sys.executable, "-m", "cli", "db", "upgrade"], env=env, cwd=REPO_ROOT,
                              capture_output=True, text=True)  # fmt: skip
        assert done.returncode == 0, done.stderr
        rendered = fresh.render_as_string(hide_password=False)
        assert _tables(rendered) == set(Base.metadata.tables)
        assert _functions(rendered) == QUEUE_FUNCTIONS
        assert _diff(rendered) == []
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{fresh.database}" WITH (FORCE)'))
        admin.dispose()
