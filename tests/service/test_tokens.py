"""API tokens: listing without secrets, issuing, revoking (at once in this process, despite the token cache),
the bootstrap admin token after a revocation, and the `depthal users` token commands."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import update

from cli.main import main as cli_main
from service.db.session import session_scope
from service.db.tables import ApiToken
from service.security import hash_token
from tests.service.conftest import Api


def _me(api: Api, headers: dict[str, str]) -> dict:
    res = api.client.get("/users/me", headers=headers)
    assert res.status_code == 200, res.text
    return res.json()


def _tokens(api: Api, user_id: int, headers: dict[str, str]) -> list[dict]:
    res = api.client.get(f"/users/{user_id}/tokens", headers=headers)
    assert res.status_code == 200, res.text
    return res.json()["data"]


def test_tokens_are_listed_without_secrets_to_their_user_and_admins(api: Api) -> None:
    ann = _me(api, api.annotator)
    own = _tokens(api, ann["id"], api.annotator)
    assert len(own) == 1 and own[0]["user_id"] == ann["id"] and own[0]["revoked"] is False
    assert set(own[0]) == {"id", "user_id", "prefix", "revoked", "created_at", "last_used_at"}
    secret = api.annotator["Authorization"].removeprefix("Bearer ")
    assert own[0]["prefix"] == secret[:8] and own[0]["last_used_at"] is not None
    assert _tokens(api, ann["id"], api.admin) == own
    res = api.client.get(f"/users/{ann['id']}/tokens", headers=api.annotator2)
    assert res.status_code == 403 and f"only user {ann['id']} or an admin" in res.json()["detail"]
    res = api.client.get("/users/999/tokens", headers=api.admin)
    assert res.status_code == 404 and "user 999 does not exist" in res.json()["detail"]


def test_revoked_token_is_refused_at_once_despite_the_cache(api: Api) -> None:
    ann = _me(api, api.annotator)  # this lookup is now cached for 10 s
    token_id = _tokens(api, ann["id"], api.annotator)[0]["id"]
    res = api.client.delete(f"/users/{ann['id']}/tokens/{token_id}", headers=api.annotator)
    assert res.status_code == 200 and res.json()["revoked"] is True
    res = api.client.get("/users/me", headers=api.annotator)
    assert res.status_code == 401 and f"(id {token_id}) has been revoked" in res.json()["detail"]
    # an admin revokes someone else's token, and revoking twice answers the same
    lead = _me(api, api.lead)
    lead_token = _tokens(api, lead["id"], api.admin)[0]["id"]
    for _ in range(2):
        res = api.client.delete(f"/users/{lead['id']}/tokens/{lead_token}", headers=api.admin)
        assert res.status_code == 200 and res.json()["revoked"] is True
    assert api.client.get("/projects", headers=api.lead).status_code == 401


def test_revocation_refused_for_others_and_foreign_ids_changes_nothing(api: Api) -> None:
    ann, ann2 = _me(api, api.annotator), _me(api, api.annotator2)
    token2 = _tokens(api, ann2["id"], api.annotator2)[0]["id"]
    res = api.client.delete(f"/users/{ann2['id']}/tokens/{token2}", headers=api.annotator)
    assert res.status_code == 403 and f"only user {ann2['id']}" in res.json()["detail"]
    res = api.client.delete(f"/users/{ann['id']}/tokens/{token2}", headers=api.annotator)  # not the caller's token
    assert res.status_code == 404 and f"user {ann['id']} has no API token {token2}" in res.json()["detail"]
    res = api.client.delete(f"/users/999/tokens/{token2}", headers=api.admin)
    assert res.status_code == 404 and "user 999 does not exist" in res.json()["detail"]
    with session_scope() as s:
        assert s.query(ApiToken).filter(ApiToken.revoked.is_(True)).count() == 0
    assert _me(api, api.annotator2)["id"] == ann2["id"]


def test_a_new_token_replaces_a_revoked_one(api: Api) -> None:
    ann = _me(api, api.annotator)
    old = _tokens(api, ann["id"], api.annotator)[0]["id"]
    res = api.client.post(f"/users/{ann['id']}/tokens", headers=api.annotator)
    assert res.status_code == 201
    fresh = {"Authorization": f"Bearer {res.json()['token']}"}
    assert api.client.delete(f"/users/{ann['id']}/tokens/{old}", headers=fresh).status_code == 200
    assert _me(api, fresh)["id"] == ann["id"]
    assert api.client.get("/users/me", headers=api.annotator).status_code == 401
    listed = _tokens(api, ann["id"], fresh)
    assert [t["revoked"] for t in listed] == [True, False] and all("token" not in t for t in listed)
    assert api.client.post(f"/users/{ann['id']}/tokens", headers=api.annotator2).status_code == 403


def test_revocation_by_another_process_takes_effect_when_the_cache_entry_expires(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.crud import users

    _me(api, api.annotator)  # cached
    with session_scope() as s:  # what another process's revocation looks like to this one
        token_hash = hash_token(api.annotator["Authorization"].removeprefix("Bearer "))
        s.execute(update(ApiToken).where(ApiToken.token_hash == token_hash).values(revoked=True))
        s.commit()
    assert api.client.get("/users/me", headers=api.annotator).status_code == 200  # the documented ≤ 10 s window
    later = users.time.monotonic() + users._CACHE_SECONDS + 1
    monkeypatch.setattr(users.time, "monotonic", lambda: later)
    res = api.client.get("/users/me", headers=api.annotator)
    assert res.status_code == 401 and "has been revoked" in res.json()["detail"]


def test_revoked_bootstrap_token_stays_revoked_after_a_restart(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    from fastapi.testclient import TestClient

    from service.main import create_app

    admin = _me(api, api.admin)
    token_id = _tokens(api, admin["id"], api.admin)[0]["id"]
    assert api.client.delete(f"/users/{admin['id']}/tokens/{token_id}", headers=api.admin).status_code == 200
    with caplog.at_level(logging.ERROR), TestClient(create_app()) as again:
        assert again.get("/users/me", headers=api.admin).status_code == 401
    assert "DEPTHAL_ADMIN_TOKEN grants nothing" in caplog.text
    with session_scope() as s:
        assert s.query(ApiToken).count() == 4  # nothing re-added


def test_cli_lists_and_revokes_tokens(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    token_id = _tokens(api, _me(api, api.annotator)["id"], api.annotator)[0]["id"]
    assert cli_main(["users", "tokens", "ann"]) == 0
    listing = capsys.readouterr().out
    assert f"{token_id:>6}  {api.annotator['Authorization'][7:15]}…" in listing and " no " in listing
    assert cli_main(["users", "revoke-token", "ann", str(token_id)]) == 0
    assert f"revoked token {token_id}" in capsys.readouterr().out
    assert api.client.get("/users/me", headers=api.annotator).status_code == 401  # same process: at once
    assert cli_main(["users", "revoke-token", "nobody", "1"]) == 2
    assert "no user is named 'nobody'" in capsys.readouterr().err


def test_a_lookup_racing_a_revocation_does_not_cache_its_answer(database, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from service.crud import users
    from service.db.tables import Role

    with session_scope() as s:
        _, token = users.create_user(session=s, name="racer", role=Role.ANNOTATOR)
    real_now = users.utcnow

    def revoked_meanwhile():  # type: ignore[no-untyped-def]
        users.forget_cached_tokens("some revoked token's hash")  # between the lookup's read and its cache write
        return real_now()

    monkeypatch.setattr(users, "utcnow", revoked_meanwhile)
    with session_scope() as s:
        assert users.user_for_token(session=s, token=token) is not None
    assert users._cache == {}
    monkeypatch.setattr(users, "utcnow", real_now)
    with session_scope() as s:
        assert users.user_for_token(session=s, token=token) is not None
    assert len(users._cache) == 1
