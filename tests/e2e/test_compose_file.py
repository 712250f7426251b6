"""docker-compose.yml and the Dockerfiles, by structure (there is no Docker engine here; the commands they name
are started as local processes in test_compose_stack.py)."""

from __future__ import annotations

import pytest

from tests.e2e.compose import REPO, interpolate, load

REQUIRED = {"POSTGRES_PASSWORD": "pw", "DEPTHAL_SECRET_KEY": "k", "DEPTHAL_ADMIN_TOKEN": "t"}


def test_services_and_their_order() -> None:
    services = load()["services"]
    assert {"db", "redis", "migrate", "api", "worker", "flower"} <= set(services)
    assert services["db"]["image"].startswith("postgres:") and "pg_isready" in str(services["db"]["healthcheck"])
    assert "ping" in str(services["redis"]["healthcheck"])
    assert services["migrate"]["command"] == ["depthal", "db", "upgrade"]
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    for name in ("api", "worker"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert deps["redis"]["condition"] == "service_healthy"
    assert services["api"]["command"][:2] == ["depthal", "serve"]
    assert services["worker"]["command"] == ["depthal", "worker"]
    assert services["flower"]["profiles"] == ["monitoring"]  # optional: not started by a plain `up`


def test_flower_is_not_published_without_authentication() -> None:
    """Issue 19, item 6. Before: `5555:5555` on every interface, no password: anyone on the network could inspect
    and revoke tasks."""
    flower = load()["services"]["flower"]
    assert all(str(port).startswith("127.0.0.1:") for port in flower["ports"]), flower["ports"]
    (auth,) = [arg for arg in flower["command"] if arg.startswith("--basic-auth=")]
    assert interpolate(auth, {"FLOWER_BASIC_AUTH": "ops:pw"}) == "--basic-auth=ops:pw"
    with pytest.raises(KeyError, match="FLOWER_BASIC_AUTH"):
        interpolate(auth, {})


def test_worker_reserves_a_gpu_and_shares_storage_with_the_api() -> None:
    services = load()["services"]
    devices = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert services["worker"]["build"]["dockerfile"] == "Dockerfile.gpu"
    assert "storage:/data" in services["api"]["volumes"] and "storage:/data" in services["worker"]["volumes"]
    assert "storage" in load()["volumes"]


def test_every_depthal_service_gets_the_same_production_settings() -> None:
    services = load()["services"]
    envs = [services[name]["environment"] for name in ("migrate", "api", "worker")]
    assert envs[0] == envs[1] == envs[2]
    env = envs[0]
    assert env["DEPTHAL_ENV"] == "production"  # placeholder secrets are refused at start-up
    assert env["DEPTHAL_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@db:5432/" in env["DEPTHAL_DATABASE_URL"]
    assert env["DEPTHAL_BROKER_URL"] == "redis://redis:6379/0"
    assert env["DEPTHAL_STORAGE_DIR"].startswith("/data")


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_secrets_have_no_defaults(missing: str) -> None:
    env = load()["services"]["api"]["environment"]
    variables = {k: v for k, v in REQUIRED.items() if k != missing}
    with pytest.raises(KeyError, match=missing):
        for value in env.values():
            interpolate(str(value), variables)


def test_dockerfiles_install_the_package_and_run_the_named_commands() -> None:
    gpu = (REPO / "Dockerfile.gpu").read_text()
    assert "pytorch/pytorch:" in gpu and "cuda" in gpu  # a CUDA PyTorch base image
    assert 'CMD ["depthal", "worker"]' in gpu and "'.[models,flower]'" in gpu  # the worker needs the model side
    api = (REPO / "Dockerfile").read_text()
    assert "RUN pip install .\n" in api and "torch" not in api.replace("no torch", "")  # the API image: no torch
    for text in (gpu, api):
        for folder in ("contracts", "service", "worker", "models", "cli", "migrations"):
            assert f"COPY {folder} ./{folder}" in text
