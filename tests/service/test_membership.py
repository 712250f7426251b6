"""Issue 19, item 4: per-project membership. A non-member is told a project (and its images, rounds, jobs) does not
exist, listing shows only your projects, a role in one project is no role in another, admins manage members (API
and CLI), and migration 0008 makes existing users members of existing projects with their role."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from cli.main import main as cli_main
from service.migrate import upgrade
from tests.factories import id_mask, rgb_image
from tests.service.conftest import Api


def test_another_teams_project_does_not_exist_for_you(api: Api) -> None:
    """Before: team B's lead exported team A's labels, and any annotator leased in any project."""
    a = api.project(pool=1, name="team-a")["id"]
    image = api.upload(a, rgb_image(0))
    assert api.put_mask(image["id"], id_mask(3), api.lead).status_code == 201
    round_ = api.client.post(f"/projects/{a}/rounds", json={}, headers=api.lead)
    lead_b, ann_b = api.user("lead-b", "lead"), api.user("ann-b", "annotator")
    b = api.client.post("/projects", json={"name": "team-b", "label_budget": 5}, headers=lead_b).json()["id"]
    api.member(b, ann_b, "annotator")
    gone = f"project {a} does not exist"
    for headers in (lead_b, ann_b):
        for method, path in (
            ("get", f"/projects/{a}"),
            ("get", f"/projects/{a}/progress"),
            ("get", f"/projects/{a}/images"),
            ("get", f"/projects/{a}/export"),
            ("post", f"/projects/{a}/queue/next"),
            ("get", f"/projects/{a}/rounds"),
        ):
            res = getattr(api.client, method)(path, headers=headers)
            assert res.status_code == 404 and res.json()["detail"] == gone, (path, res.text)
        for path in (f"/images/{image['id']}", f"/images/{image['id']}/file", f"/images/{image['id']}/mask"):
            res = api.client.get(path, headers=headers)
            assert res.status_code == 404 and res.json()["detail"] == f"image {image['id']} does not exist", path
        assert api.put_mask(image["id"], id_mask(4), headers).status_code == 404
        assert api.client.post(f"/images/{image['id']}/lease", headers=headers).status_code == 404
        assert [p["id"] for p in api.client.get("/projects", headers=headers).json()["data"]] == [b]
    assert round_.status_code == 202, round_.text  # (sent to the embedded SQLite broker; no worker runs it)
    round_id, job_id = round_.json()["id"], round_.json()["jobs"][0]["id"]
    for method, path in (("get", f"/rounds/{round_id}"), ("post", f"/rounds/{round_id}/cancel"),
                         ("get", f"/jobs/{job_id}"), ("post", f"/jobs/{job_id}/cancel")):  # fmt: skip
        assert getattr(api.client, method)(path, headers=lead_b).status_code == 404, path
    assert api.client.get(f"/projects/{a}/export", headers=api.lead).status_code == 200
    listed = api.client.get("/projects", headers=api.admin).json()
    assert [p["id"] for p in listed["data"]] == [a, b] and listed["count"] == 2  # admins see every project


def test_roles_are_per_project(api: Api) -> None:
    pid = api.project(name="p")["id"]
    api.upload(pid, rgb_image(0), queue=True)
    viewer = api.user("vic", "annotator")
    api.member(pid, viewer, "viewer")
    assert api.client.get(f"/projects/{pid}/progress", headers=viewer).status_code == 200
    res = api.client.post(f"/projects/{pid}/queue/next", headers=viewer)
    assert res.status_code == 403 and "needs the lead or annotator role in project" in res.json()["detail"]
    # an annotator made lead of this project leads it (no lease needed, may export) ...
    api.member(pid, api.annotator2, "lead")
    assert api.client.get(f"/projects/{pid}/export", headers=api.annotator2).status_code == 200
    image_id = api.client.get(f"/projects/{pid}/images", headers=api.annotator2).json()["data"][0]["id"]
    assert api.put_mask(image_id, id_mask(2), api.annotator2).status_code == 201
    # ... and a global lead who is only an annotator here does not
    other = api.client.post("/projects", json={"name": "q", "label_budget": 5}, headers=api.admin).json()["id"]
    api.member(other, api.lead, "annotator")
    res = api.client.get(f"/projects/{other}/export", headers=api.lead)
    assert res.status_code == 403 and "you are annotator there" in res.json()["detail"]


def test_admins_manage_members(api: Api) -> None:
    pid = api.project()["id"]
    api.upload(pid, rgb_image(0), queue=True)
    lease = api.client.post(f"/projects/{pid}/queue/next", headers=api.annotator).json()
    ann = api.client.get("/users/me", headers=api.annotator).json()
    listed = api.client.get(f"/projects/{pid}/members", headers=api.lead).json()
    assert [(m["name"], m["role"]) for m in listed["data"]] == [("lead", "lead"), ("ann", "annotator"),
                                                                ("ann2", "annotator")]  # fmt: skip
    res = api.client.put(f"/projects/{pid}/members/{ann['id']}", json={"role": "lead"}, headers=api.lead)
    assert res.status_code == 403  # leads do not manage members
    res = api.client.put(f"/projects/{pid}/members/{ann['id']}", json={"role": "owner"}, headers=api.admin)
    assert res.status_code == 422
    assert api.client.delete(f"/projects/{pid}/members/{ann['id']}", headers=api.admin).status_code == 204
    assert api.client.get(f"/projects/{pid}", headers=api.annotator).status_code == 404
    again = api.client.post(f"/projects/{pid}/queue/next", headers=api.annotator2).json()
    assert again["image_id"] == lease["image_id"]  # the removed member's lease was released
    res = api.client.delete(f"/projects/{pid}/members/{ann['id']}", headers=api.admin)
    assert res.status_code == 404 and "is not a member" in res.json()["detail"]
    res = api.client.put(f"/projects/{pid}/members/999", json={"role": "viewer"}, headers=api.admin)
    assert res.status_code == 404 and "user 999 does not exist" in res.json()["detail"]


def test_cli_manages_members(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    pid = api.project()["id"]
    api.user("vic", "annotator")
    assert cli_main(["members", "add", str(pid), "vic", "--role", "viewer"]) == 0
    assert cli_main(["members", "list", str(pid)]) == 0
    out = capsys.readouterr().out
    assert "vic" in out and "viewer" in out
    assert cli_main(["members", "remove", str(pid), "vic"]) == 0
    assert cli_main(["members", "add", str(pid), "nobody", "--role", "lead"]) == 2
    assert "no user is named 'nobody'" in capsys.readouterr().err


def test_migration_makes_existing_users_members_with_their_role(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    upgrade(url, "0005")
    engine = create_engine(url)
    now = datetime.now(UTC).isoformat()
    with engine.begin() as conn:
        for pid in (1, 2):
            conn.execute(text("INSERT INTO project (id, name, label_budget, round_schedule, image_height, "
                              "image_width, settings, created_at) VALUES (:id, :n, 5, '[]', 0, 0, '{}', :t)"),
                         {"id": pid, "n": f"p{pid}", "t": now})  # fmt: skip
        for uid, role in ((1, "admin"), (2, "lead"), (3, "annotator")):
            conn.execute(text('INSERT INTO "user" (id, name, role, is_active, created_at) VALUES (:i, :n, :r, 1, :t)'),
                         {"i": uid, "n": f"u{uid}", "r": role, "t": now})  # fmt: skip
        conn.execute(text("INSERT INTO api_token (user_id, token_hash, prefix, revoked, created_at) "
                          "VALUES (2, 'h', 'dal_abcdefgh', 0, :t)"), {"t": now})  # fmt: skip
    upgrade(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT project_id, user_id, role FROM membership ORDER BY 1, 2")).all()
        prefix = conn.execute(text("SELECT prefix FROM api_token")).scalar()
    engine.dispose()
    assert [tuple(r) for r in rows] == [(1, 2, "lead"), (1, 3, "annotator"), (2, 2, "lead"), (2, 3, "annotator")]
    assert prefix == "dal_abcd"
