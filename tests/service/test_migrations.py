"""Migrations: empty → head gives exactly the ORM's tables (autogenerate finds nothing), and down/up round-trips."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from service.db.tables import Base
from service.migrate import downgrade, upgrade
from tests.conftest import Database


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
