"""A small client for the parts of Label Studio's REST API the connector uses (httpx, synchronous).

Faults become service errors that name them, so routes answer a 4xx and the CLI prints a line: an unreachable
server or an outage is `Unavailable` (503: a sync reports it and the next one resumes), a refused token `Invalid`
(422 at link time), anything else Label Studio refuses `Invalid` with its own message.

Tokens: a legacy API token is sent as `Authorization: Token <t>`; a personal access token (a JWT, Label Studio's
default since 1.18) is exchanged at `/api/token/refresh/` for a short-lived access token sent as `Bearer`, again
when it expires.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from service.errors import Invalid, Unavailable

TIMEOUT_S = 30.0
PAGE_SIZE = 100


class LabelStudioClient:
    def __init__(self, url: str, token: str, *, timeout: float = TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self._http = httpx.Client(base_url=self.url, timeout=timeout, follow_redirects=False)
        self._auth: str | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LabelStudioClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------------ transport
    def _authorization(self) -> str:
        if self._auth is None:
            if self._token.count(".") == 2:  # a JWT: a personal access token (refresh token)
                data = self._send("POST", "/api/token/refresh/", json={"refresh": self._token}, auth=False)
                self._auth = f"Bearer {data['access']}"
            else:
                self._auth = f"Token {self._token}"
        return self._auth

    def _request(self, method: str, path: str, *, auth: bool, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": self._authorization()} if auth else {}
        try:
            return self._http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as err:
            raise Unavailable(f"Label Studio at {self.url} cannot be reached: {type(err).__name__}: {err}") from None

    def _send(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> Any:
        res = self._request(method, path, auth=auth, **kwargs)
        if res.status_code == 401 and auth and self._auth is not None and self._auth.startswith("Bearer "):
            self._auth = None  # the short-lived access token expired during a long sync: exchange the PAT again
            res = self._request(method, path, auth=auth, **kwargs)
        if res.status_code in (401, 403):
            raise Invalid(f"Label Studio at {self.url} refused the token ({res.status_code}): {_detail(res)}")
        if res.status_code >= 500:
            raise Unavailable(f"Label Studio at {self.url} failed ({res.status_code}) on {method} {path}")
        if res.status_code >= 400:
            raise Invalid(f"Label Studio refused {method} {path} ({res.status_code}): {_detail(res)}")
        if not res.content:
            return None
        try:
            return res.json()
        except ValueError:
            raise Invalid(
                f"{self.url} answered {method} {path} with something that is not Label Studio's JSON "
                "API: is the URL Label Studio's base URL?"
            ) from None

    # ------------------------------------------------------------------------------------------------ resources
    def whoami(self) -> dict[str, Any]:
        me = self._send("GET", "/api/current-user/whoami")
        if not isinstance(me, dict) or "id" not in me:
            raise Invalid(f"{self.url} does not answer like Label Studio's API (GET /api/current-user/whoami)")
        return me

    def user_email(self, user_id: int) -> str:
        return str(self._send("GET", f"/api/users/{user_id}")["email"])

    def project(self, project_id: int) -> dict[str, Any]:
        return dict(self._send("GET", f"/api/projects/{project_id}"))

    def create_project(self, title: str, label_config: str) -> dict[str, Any]:
        # Sequential sampling: annotators get tasks in import order, which is depthal's rank order
        body = {"title": title, "label_config": label_config, "sampling": "Sequential sampling"}
        return dict(self._send("POST", "/api/projects", json=body))

    def set_model_version(self, project_id: int, version: str) -> None:
        """The project's "model version": the predictions the editor pre-fills tasks with (or an ML backend's title,
        to ask that backend)."""
        self._send("PATCH", f"/api/projects/{project_id}", json={"model_version": version})

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> list[int]:
        """Create tasks (with their predictions) in this order; their ids, in the same order."""
        res = self._send("POST", f"/api/projects/{project_id}/import", params={"return_task_ids": "true"}, json=tasks)
        return [int(t) for t in res["task_ids"]]

    def tasks(self, project_id: int) -> Iterator[dict[str, Any]]:
        """Every task of the project with its annotations, page by page."""
        page = 1
        while True:
            params = {"project": project_id, "page": page, "page_size": PAGE_SIZE, "fields": "all"}
            res = self._send("GET", "/api/tasks", params=params)
            yield from res["tasks"]
            if page * PAGE_SIZE >= int(res["total"]):
                return
            page += 1

    def task(self, task_id: int) -> dict[str, Any]:
        return dict(self._send("GET", f"/api/tasks/{task_id}"))

    def annotations(self, task_id: int) -> list[dict[str, Any]]:
        return list(self._send("GET", f"/api/tasks/{task_id}/annotations"))

    def delete_task(self, task_id: int) -> None:
        try:
            self._send("DELETE", f"/api/tasks/{task_id}")
        except Invalid as err:
            if "(404)" not in err.detail:  # already gone: what the caller wanted
                raise

    def create_webhook(self, project_id: int, url: str, headers: dict[str, str]) -> int:
        body = {
            "project": project_id,
            "url": url,
            "send_payload": True,
            "send_for_all_actions": False,
            "headers": headers,
            "actions": ["ANNOTATION_CREATED", "ANNOTATION_UPDATED"],
        }
        return int(self._send("POST", "/api/webhooks/", json=body)["id"])

    def create_ml_backend(self, project_id: int, url: str, title: str, user: str, password: str) -> int:
        """Label Studio checks `/health` and calls `/setup` before it answers."""
        body = {
            "project": project_id,
            "url": url,
            "title": "depthal",
            "auth_method": "BASIC_AUTH",
            "basic_auth_user": user,
            "basic_auth_pass": password,
            "is_interactive": False,
        }
        return int(self._send("POST", "/api/ml/", json=body)["id"])


def _detail(res: httpx.Response) -> str:
    try:
        body = res.json()
    except ValueError:
        return res.text[:200]
    if isinstance(body, dict):
        return str(body.get("validation_errors") or body.get("detail") or body)[:300]
    return str(body)[:300]
