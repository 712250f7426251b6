from __future__ import annotations

from tests.service.conftest import Api, Broker


def test_liveness_and_db_roundtrip_need_no_token(api: Api) -> None:
    assert api.client.get("/health").json() == {"status": "ok", "checks": {}}
    assert api.client.get("/health/db").json()["status"] == "ok"


def test_readiness_checks_database_and_broker(api: Api, broker: Broker) -> None:
    res = api.client.get("/health/ready")
    assert res.status_code == 200 and res.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_openapi_docs_served(api: Api) -> None:
    assert api.client.get("/docs").status_code == 200
    paths = api.client.get("/openapi.json").json()["paths"]
    assert "/projects/{project_id}/queue/next" in paths and "/images/{image_id}/mask" in paths


def test_api_never_imports_torch() -> None:
    import subprocess
    import sys

    code = "import sys, service.main; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
