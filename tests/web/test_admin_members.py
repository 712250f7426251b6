"""Issue 19, items 4 and 5 in the browser: an admin adds a user to a project, changes their role, removes them, and
deactivates a user, on the admin page (service/web/static/js/admin.js)."""

from __future__ import annotations

from typing import Any

from tests.web.harness import ADMIN_TOKEN, WebServer, sign_in, until


def test_admin_manages_project_members_and_deactivates_users(web: WebServer, page: Any) -> None:
    lead, annotator = web.user("lead-members", "lead"), web.user("ann-members", "annotator")
    with web.client(lead) as c:
        pid = c.post("/projects", json={"name": "members", "label_budget": 5}).json()["id"]
    with web.client(annotator) as c:
        ann_id = c.get("/users/me").json()["id"]
        assert c.get(f"/projects/{pid}").status_code == 404  # not a member yet
    sign_in(page, web.base, ADMIN_TOKEN, "admin")
    until(page, f"[...document.querySelectorAll('[data-testid=member-project] option')].some(o => o.value === '{pid}')")
    page.get_by_test_id("member-project").select_option(str(pid))
    page.get_by_test_id("member-user").select_option(str(ann_id))
    page.get_by_test_id("member-role").select_option("viewer")
    page.get_by_test_id("member-add").click()
    until(page, f"document.querySelector('[data-testid=member-{ann_id}]')?.textContent.includes('viewer')")
    with web.client(annotator) as c:
        assert c.get(f"/projects/{pid}").status_code == 200
        assert c.post(f"/projects/{pid}/queue/next").status_code == 403  # a viewer there
    page.get_by_test_id("member-role").select_option("annotator")
    page.get_by_test_id("member-add").click()
    until(page, f"document.querySelector('[data-testid=member-{ann_id}]')?.textContent.includes('annotator')")
    page.get_by_test_id(f"member-{ann_id}").get_by_test_id("member-remove").click()
    until(page, f"!document.querySelector('[data-testid=member-{ann_id}]')")
    with web.client(annotator) as c:
        assert c.get(f"/projects/{pid}").status_code == 404
    page.get_by_test_id(f"user-{ann_id}").get_by_test_id("user-active").click()
    until(page, "document.querySelector('[data-testid=message-text]')?.textContent.includes('deactivated')")
    with web.client(annotator) as c:
        assert "is deactivated" in c.get("/users/me").json()["detail"]
