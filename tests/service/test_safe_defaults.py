"""Issue 19, item 6: safe defaults. Serving beyond loopback needs a real deployment, production needs long secrets,
tokens show 4 characters of their secret, /docs works offline and can be switched off, CORS is an explicit list,
and nothing unauthenticated or any error names server paths, symlink targets or internal hosts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from cli.main import main as cli_main
from service.config import Settings, get_settings
from tests.conftest import Database, _configure
from tests.factories import rgb_image
from tests.service.conftest import Api


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.org"])
def test_serve_and_up_refuse_development_mode_beyond_loopback(
    host: str,
    sqlite_database: Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    closed_port: int,
) -> None:
    """Before: `depthal serve --host 0.0.0.0` served development mode, admin token `changethis`, to the network.
    (The port is taken, so today's tree stops at the port check instead of serving.)"""
    _configure(monkeypatch, sqlite_database.data_dir, sqlite_database.url, env="development")
    for command in ("serve", "up"):
        assert cli_main([command, "--host", host, "--port", str(closed_port)]) == 2
        err = capsys.readouterr().err
        assert f"refusing to listen on {host} in development mode" in err, err


def test_production_refuses_weak_secrets() -> None:
    strong = "x" * 16
    with pytest.raises(ValidationError, match="DEPTHAL_ADMIN_TOKEN is shorter than 16 characters"):
        Settings(env="production", secret_key=strong, admin_token="hunter2")
    with pytest.raises(ValidationError, match="DEPTHAL_SECRET_KEY is shorter than 16"):
        Settings(env="production", secret_key="short", admin_token=strong)
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(env="production", secret_key=strong, admin_token="changethis")
    assert Settings(env="production", secret_key=strong, admin_token=strong).admin_token == strong
    with pytest.raises(ValidationError, match="lists '\\*'"):
        Settings(cors_origins=["*"])


def test_tokens_store_and_show_four_characters_of_their_secret(api: Api) -> None:
    """Before: the first 12 characters (`dal_` and 8 of the secret) were stored and shown."""
    me = api.client.get("/users/me", headers=api.annotator).json()
    secret = api.annotator["Authorization"].removeprefix("Bearer ")
    (token,) = api.client.get(f"/users/{me['id']}/tokens", headers=api.annotator).json()["data"]
    assert token["prefix"] == secret[:8] and secret.startswith("dal_")
    admin = api.client.get("/users/me", headers=api.admin).json()
    (admin_token,) = api.client.get(f"/users/{admin['id']}/tokens", headers=api.admin).json()["data"]
    assert admin_token["prefix"] == "test"  # an operator's own token: its first 4 characters only


def test_docs_are_served_without_a_cdn_and_can_be_turned_off(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: /docs loaded Swagger UI's script and CSS from cdn.jsdelivr.net (blank offline) and could not be
    turned off."""
    page = api.client.get("/docs")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert "http" not in page.text.replace('href="/openapi.json"', "")  # nothing fetched from elsewhere
    assert api.client.get("/app/js/apidocs.js").status_code == 200
    monkeypatch.setenv("DEPTHAL_DOCS_ENABLED", "false")
    get_settings.cache_clear()
    from service.main import create_app

    with TestClient(create_app()) as closed:
        assert closed.get("/docs").status_code == 404 and closed.get("/openapi.json").status_code == 404


def test_cors_is_an_explicit_allow_list(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    preflight = {"Origin": "https://label.example.org", "Access-Control-Request-Method": "PUT"}
    res = api.client.options("/projects", headers=preflight)
    assert "access-control-allow-origin" not in res.headers  # none by default
    monkeypatch.setenv("DEPTHAL_CORS_ORIGINS", '["https://label.example.org"]')
    get_settings.cache_clear()
    from service.main import create_app

    with TestClient(create_app()) as listed:
        res = listed.options("/projects", headers=preflight)
        assert res.status_code == 200
        assert res.headers["access-control-allow-origin"] == "https://label.example.org"
        other = listed.options("/projects", headers=preflight | {"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_readiness_names_no_hosts_or_ports(api: Api, monkeypatch: pytest.MonkeyPatch, closed_port: int) -> None:
    """Before: `unreachable: OperationalError: Error 111 connecting to 127.0.0.1:<port>` to anyone who asked."""
    monkeypatch.setenv("DEPTHAL_BROKER_URL", f"redis://10.11.12.13:{closed_port}/0")
    get_settings.cache_clear()
    res = api.client.get("/health/ready")
    assert res.status_code == 503 and res.json()["checks"]["broker"] == "unreachable"
    assert str(closed_port) not in res.text and "10.11.12.13" not in res.text


def test_import_refusals_name_no_server_paths_or_symlink_targets(api: Api, tmp_path: Path) -> None:
    """Before: "file /srv/…/import/mixed/leak.png resolves to /home/…/secret/s.png, outside the import root
    /srv/…/import"."""
    root = get_settings().import_root
    assert root is not None
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "s.png").write_bytes(rgb_image(1))
    (root / "mixed").mkdir(parents=True)
    (root / "mixed" / "ok.png").write_bytes(rgb_image(2))
    os.symlink(secret / "s.png", root / "mixed" / "leak.png")
    (root / "empty").mkdir()
    pid = api.project()["id"]
    for path in ("mixed", "../../..", "empty", "missing"):  # (an absolute path sent is only echoed back)
        res = api.client.post(f"/projects/{pid}/images/import", json={"path": path}, headers=api.lead)
        detail = res.json()["detail"]
        assert res.status_code in (403, 404, 422), res.text
        assert str(tmp_path) not in detail and str(root) not in detail, detail
    assert (
        "file 'mixed/leak.png' leads outside the import root"
        in api.client.post(f"/projects/{pid}/images/import", json={"path": "mixed"}, headers=api.lead).json()["detail"]
    )
