"""The services of docker-compose.yml started as local processes: the very `command:` and `environment:` of
`migrate`, `api` and `worker`, with only container addresses mapped to this machine (db → the local PostgreSQL,
on a fresh database; redis → the test Redis; the /data volume → a temporary folder; the published port → a free
one). Then a validate_images job and a random round through HTTP, checked in the database and in storage."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from service.db.base import Base
from tests.conftest import PG_URL, REDIS_URL
from tests.e2e import compose
from tests.e2e.client import Client
from tests.e2e.server import Server, free_port
from tests.worker.procs import REPO, Worker

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

VARIABLES = {
    "POSTGRES_PASSWORD": "pw",
    "DEPTHAL_SECRET_KEY": "compose-test-secret",
    "DEPTHAL_ADMIN_TOKEN": "compose-admin-token",  # production: at least 16 characters
}


@pytest.fixture
def fresh_database() -> str:
    """An empty database next to the test database (created once; emptied by dropping its schema, because
    DROP DATABASE waits for a checkpoint: ~10 s on a busy machine)."""
    url = make_url(PG_URL)
    name = f"{url.database}_compose"
    server = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        if conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}) is None:
            conn.execute(text(f"CREATE DATABASE {name}"))
    server.dispose()
    target = url.set(database=name).render_as_string(hide_password=False)
    engine = create_engine(target)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return target


def _base_env() -> dict[str, str]:
    """This machine's environment without any DEPTHAL_* setting the test session made; the repo on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPTHAL_")}
    env["PYTHONPATH"] = str(REPO)
    return env


def test_compose_services_run_as_local_processes(fresh_database: str, tmp_path: Path) -> None:
    services = compose.load()["services"]
    redis.Redis.from_url(REDIS_URL).flushdb()
    port = free_port()
    container_db = compose.interpolate(services["api"]["environment"]["DEPTHAL_DATABASE_URL"], VARIABLES)
    env_map = {container_db: fresh_database, "redis://redis:6379/0": REDIS_URL, "/data": str(tmp_path / "data")}
    argv_map = {"0.0.0.0": "127.0.0.1", "8000": str(port)}

    def local(name: str) -> tuple[list[str], dict[str, str]]:
        argv, env = compose.local_command(services[name], VARIABLES, env_map)
        argv = [argv_map.get(a, a) for a in argv]
        return argv, {**_base_env(), **env}

    # migrate: a one-shot that must succeed on an empty database.
    argv, env = local("migrate")
    assert env["DEPTHAL_ENV"] == "production" and env["DEPTHAL_DATABASE_URL"] == fresh_database
    done = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert set(Base.metadata.tables) <= set(inspect(create_engine(fresh_database)).get_table_names())

    api_argv, api_env = local("api")
    worker_argv, worker_env = local("worker")
    worker = Worker(worker_env, tmp_path / "worker.log", argv=worker_argv).start()
    try:
        with Server(api_argv, api_env, tmp_path / "api.log", port) as api:
            admin = Client(api.base, VARIABLES["DEPTHAL_ADMIN_TOKEN"])
            assert admin.ok(admin.http.get("/health/ready"))["checks"] == {"database": "ok", "broker": "ok"}
            lead = Client(api.base, admin.ok(admin.http.post("/users", json={"name": "lea", "role": "lead"}))["token"])
            annotator_token = admin.ok(admin.http.post("/users", json={"name": "ann", "role": "annotator"}))["token"]

            project = lead.create_project("compose")
            admin.add_member(project["id"], annotator_token)
            images = lead.upload_images(project["id"], 5)
            job = lead.validate(project["id"])
            assert (job["status"], job["progress"], job["attempt"]) == ("succeeded", 1.0, 1), job
            assert job["result"] == {"images": 5, "frames": 15, "thumbnails": 5}
            thumbs = sorted((tmp_path / "data" / "storage").rglob("thumbnails/*.jpg"))
            assert len(thumbs) == 5  # written by the worker into the shared storage

            round_, job = lead.random_round(project["id"], 3)
            assert round_["status"] == "succeeded" and job["status"] == "succeeded", (round_, job)
            queued = sorted(job["result"]["queued"])
            assert len(queued) == 3 and set(queued) <= {i["id"] for i in images}
            progress = lead.ok(lead.http.get(f"/projects/{project['id']}/progress"))
            assert (progress["queued"], progress["labeled"]) == (3, 0)

            annotator = Client(api.base, annotator_token)
            lease, _ = annotator.annotate_one(project["id"])
            assert lease["image_id"] == job["result"]["queued"][0]  # rank 0 is served first
            progress = lead.ok(lead.http.get(f"/projects/{project['id']}/progress"))
            assert (progress["queued"], progress["labeled"]) == (2, 1)
        assert api.proc is not None and api.proc.returncode == 0
    finally:
        worker.stop()
    assert worker.proc is not None and worker.proc.returncode == 0
    assert "depthal.plan" in worker.log.read_text()
