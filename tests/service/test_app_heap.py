"""The API process keeps its start-up heap out of the cyclic garbage collector while it serves (service/main.py)."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from tests.conftest import Database


def test_startup_heap_is_frozen_while_serving_and_released_at_shutdown(sqlite_database: Database) -> None:
    from service.main import create_app

    gc.unfreeze()  # start from a process state this test controls
    app = create_app()
    with TestClient(app) as client:
        frozen = gc.get_freeze_count()
        # the routes and their dependency trees are part of it: a full collection no longer scans them
        assert frozen > 10_000, f"only {frozen} objects frozen at start-up"
        tracked = {id(o) for o in gc.get_objects()}  # the generations the collector scans
        assert id(app.router) not in tracked
        assert client.get("/health").status_code == 200
    assert gc.get_freeze_count() == 0  # shut down: collectable again, nothing left behind by a stopped app
