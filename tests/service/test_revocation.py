"""Issue 19, item 5: a revoked token cannot mint its successor from a cache, and deactivating a user stops their
tokens at once and releases their open leases (API and CLI)."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from cli.main import main as cli_main
from service.db.session import session_scope
from service.db.tables import ApiToken, Image, Lease
from service.security import hash_token
from tests.factories import rgb_image
from tests.service.conftest import Api


def _me(api: Api, headers: dict[str, str]) -> dict:
    res = api.client.get("/users/me", headers=headers)
    assert res.status_code == 200, res.text
    return res.json()


def _revoke_elsewhere(headers: dict[str, str]) -> None:
    """A revocation committed by another API process: this process's token cache does not hear of it."""
    token_hash = hash_token(headers["Authorization"].removeprefix("Bearer "))
    with session_scope() as s:
        s.execute(update(ApiToken).where(ApiToken.token_hash == token_hash).values(revoked=True))


def test_a_token_revoked_elsewhere_cannot_mint_or_administer_from_the_cache(api: Api) -> None:
    """Before: POST /users/{id}/tokens with a just-revoked (still cached) token → 201, as often as asked."""
    ann = _me(api, api.annotator)  # cached in this process now
    admin = _me(api, api.admin)
    _revoke_elsewhere(api.annotator)
    _revoke_elsewhere(api.admin)
    assert api.client.get("/users/me", headers=api.annotator).status_code == 200  # the cache window, ordinary routes
    for headers, method, path, body in (
        (api.annotator, "post", f"/users/{ann['id']}/tokens", None),
        (api.annotator, "get", f"/users/{ann['id']}/tokens", None),
        (api.admin, "post", f"/users/{admin['id']}/tokens", None),
        (api.admin, "post", "/users", {"name": "mallory", "role": "admin"}),
        (api.admin, "get", "/users", None),
        (api.admin, "post", f"/users/{ann['id']}/deactivate", None),
    ):
        res = getattr(api.client, method)(path, headers=headers, **({"json": body} if body else {}))
        assert res.status_code == 401 and "has been revoked" in res.json()["detail"], (path, res.text)
    with session_scope() as s:
        assert s.query(ApiToken).count() == 4  # nothing minted


def test_deactivating_a_user_stops_their_tokens_and_releases_their_leases(api: Api) -> None:
    pid = api.project()["id"]
    api.upload(pid, rgb_image(0), queue=True)
    lease = api.client.post(f"/projects/{pid}/queue/next", headers=api.annotator).json()
    ann = _me(api, api.annotator)  # cached
    assert api.client.post(f"/users/{ann['id']}/deactivate", headers=api.lead).status_code == 403
    res = api.client.post(f"/users/{ann['id']}/deactivate", headers=api.admin)
    assert res.status_code == 200 and res.json()["is_active"] is False and res.json()["released_leases"] == 1
    res = api.client.get("/users/me", headers=api.annotator)
    assert res.status_code == 401 and "user 'ann' is deactivated" in res.json()["detail"]
    with session_scope() as s:
        assert s.get(Lease, lease["id"]).status == "released"
        assert s.get(Image, lease["image_id"]).state == "queued"
    other = api.client.post(f"/projects/{pid}/queue/next", headers=api.annotator2).json()
    assert other["image_id"] == lease["image_id"]  # back in the queue for someone else
    admin = _me(api, api.admin)
    res = api.client.post(f"/users/{admin['id']}/deactivate", headers=api.admin)
    assert res.status_code == 409 and "cannot deactivate yourself" in res.json()["detail"]
    assert api.client.post("/users/999/deactivate", headers=api.admin).status_code == 404
    res = api.client.post(f"/users/{ann['id']}/activate", headers=api.admin)
    assert res.status_code == 200 and res.json()["is_active"] is True
    assert _me(api, api.annotator)["id"] == ann["id"]


def test_cli_deactivates_and_activates(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    pid = api.project()["id"]
    api.upload(pid, rgb_image(0), queue=True)
    lease = api.client.post(f"/projects/{pid}/queue/next", headers=api.annotator).json()
    assert cli_main(["users", "deactivate", "ann"]) == 0
    assert "deactivated 'ann': 1 open lease(s) released" in capsys.readouterr().out
    assert api.client.get("/users/me", headers=api.annotator).status_code == 401  # same process: at once
    with session_scope() as s:
        assert s.get(Lease, lease["id"]).status == "released"
    assert cli_main(["users", "activate", "ann"]) == 0
    assert _me(api, api.annotator)["name"] == "ann"
    assert cli_main(["users", "deactivate", "nobody"]) == 2
    assert "no user is named 'nobody'" in capsys.readouterr().err
