"""Compose parity for the method: docker-compose.yml's `migrate`, `api` and `worker` commands and environments run
as local processes against the local PostgreSQL (a fresh database) and Redis, and complete one full method round —
the cold start with `diversity+difficulty`: depth pretraining, pool scoring, farthest-point selection, the batch
queued with its reasons — on a tiny synthetic world in the compose import root (/data/import → a temporary folder).
The sibling test_compose_stack.py runs a random round on the same stack."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, func, select

from tests.conftest import spare_redis_url
from tests.e2e import compose
from tests.e2e.client import Client
from tests.e2e.server import Server, free_port
from tests.e2e.test_compose_stack import VARIABLES, _base_env, fresh_database  # noqa: F401 - the fixture
from tests.worker.procs import REPO, Worker

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

SIZE = (32, 64)
BATCH = 3
SETTINGS = {"preset": "tiny", "device": "cpu",
            "depth": {"finetune_iters": 2, "batch_size": 2, "checkpoint_every": 2}}  # fmt: skip


def test_compose_stack_runs_a_method_cold_start(fresh_database: str, tmp_path: Path) -> None:  # noqa: F811
    from models.data.synth.world import generate_world

    services = compose.load()["services"]
    data = tmp_path / "data"
    # The compose import root is /data/import: the world goes where the containers would see it.
    generate_world(data / "import" / "world", sequences=10, size=SIZE, seed=5)
    broker = spare_redis_url(3)  # a Redis db of its own: other tests flush theirs
    redis.Redis.from_url(broker).flushdb()
    port = free_port()
    container_db = compose.interpolate(services["api"]["environment"]["DEPTHAL_DATABASE_URL"], VARIABLES)
    env_map = {container_db: fresh_database, "redis://redis:6379/0": broker, "/data": str(data)}
    argv_map = {"0.0.0.0": "127.0.0.1", "8000": str(port)}

    def local(name: str) -> tuple[list[str], dict[str, str]]:
        argv, env = compose.local_command(services[name], VARIABLES, env_map)
        return [argv_map.get(a, a) for a in argv], {**_base_env(), **env}

    argv, env = local("migrate")
    done = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    api_argv, api_env = local("api")
    worker_argv, worker_env = local("worker")
    assert api_env["DEPTHAL_IMPORT_ROOT"] == str(data / "import")
    assert worker_env["DEPTHAL_STORAGE_DIR"] == str(data / "storage")
    worker = Worker(worker_env, tmp_path / "worker.log", argv=worker_argv).start()
    try:
        with Server(api_argv, api_env, tmp_path / "api.log", port) as api:
            admin = Client(api.base, VARIABLES["DEPTHAL_ADMIN_TOKEN"])
            lead = Client(api.base, admin.ok(admin.http.post("/users", json={"name": "lea", "role": "lead"}))["token"])
            ann = Client(
                api.base, admin.ok(admin.http.post("/users", json={"name": "ann", "role": "annotator"}))["token"]
            )
            body = {"name": "compose-method", "label_budget": 6, "image_height": SIZE[0], "image_width": SIZE[1],
                    "settings": SETTINGS}  # fmt: skip
            pid = lead.ok(lead.http.post("/projects", json=body), 201)["id"]
            admin.add_member(pid, ann.http.headers["Authorization"].removeprefix("Bearer "))
            imported = lead.ok(
                lead.http.post(f"/projects/{pid}/images/import", json={"path": "world", "layout": "cityscapes"})
            )
            pool = {i["id"] for i in imported["images"] if i["role"] == "pool"}
            assert len(pool) == 8

            round_ = lead.ok(lead.http.post(f"/projects/{pid}/rounds", json={"batch_size": BATCH}), 202)
            assert round_["strategy"] == "diversity+difficulty"  # the method's, from the project's settings
            round_ = lead.wait_round(round_["id"], timeout=300)
            assert round_["status"] == "succeeded", round_
            assert sorted(j["kind"] for j in round_["jobs"]) == [
                "plan",
                "predict",
                "pretrain_depth",
                "queue",
                "score",
                "select",
            ]
            assert all(j["status"] == "succeeded" and j["progress"] == 1.0 for j in round_["jobs"])

            progress = lead.ok(lead.http.get(f"/projects/{pid}/progress"))
            assert (progress["queued"], progress["remaining"]) == (BATCH, 6 - BATCH)
            (r0,) = progress["rounds"]
            jobs = sorted(round_["jobs"], key=lambda j: j["id"])
            assert [s["kind"] for s in r0["stages"]] == [j["kind"] for j in jobs]
            assert all(s["seconds"] is not None and s["seconds"] >= 0 for s in r0["stages"])
            lease = ann.ok(ann.http.post(f"/projects/{pid}/queue/next"))
            assert lease["image_id"] in pool and lease["reason"]["rank"] == 0 and lease["reason"]["distance"] is None
        assert api.proc is not None and api.proc.returncode == 0
    finally:
        worker.stop()
    assert worker.proc is not None and worker.proc.returncode == 0
    checkpoints = [p.name for p in (data / "storage").rglob("*.pt")]
    assert checkpoints and all("depth" in name for name in checkpoints), checkpoints  # in the shared volume
    engine = create_engine(fresh_database)
    try:
        from service.db.tables import ModelVersion, Score

        with engine.connect() as conn:
            kinds = conn.execute(select(ModelVersion.kind).where(ModelVersion.project_id == pid)).scalars().all()
            assert kinds == ["depth"]
            ranked = conn.execute(select(func.count()).select_from(Score).where(Score.rank.is_not(None))).scalar()
            assert ranked == BATCH
    finally:
        engine.dispose()
