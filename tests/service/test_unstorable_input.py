"""Input that parses but that the database cannot hold is a 422 naming where it is, and changes nothing: integers
past the columns' range in paths, queries and bodies; NUL characters, lone surrogates and NaN / Infinity anywhere in
a JSON body. Each was a 500 on PostgreSQL, SQLite or both (found by tests/e2e/test_api_fuzz.py's fuzzer)."""

from __future__ import annotations

import pytest

from service.db.session import session_scope
from service.db.tables import INT32_MAX, Project, Round, User
from service.storable import problem
from tests.factories import rgb_image
from tests.service.conftest import Api

TOO_BIG = INT32_MAX + 1


def _rows() -> tuple[int, int, int]:
    with session_scope() as s:
        return s.query(Project).count(), s.query(User).count(), s.query(Round).count()


def _post_json(api: Api, url: str, raw: str) -> object:
    """`raw` as the body, unparsed by the client (JSON escapes such as \\u0000 and NaN go through as written)."""
    return api.client.post(url, content=raw, headers={**api.admin, "content-type": "application/json"})


@pytest.mark.parametrize(
    ("url", "raw", "where"),
    [
        ("/users", r'{"name": "a\u0000b", "role": "annotator"}', "body.name: contains a NUL character"),
        ("/users", r'{"name": "a\ud83db", "role": "annotator"}', "body.name: contains '\\ud83d', a lone UTF-16"),
        ("/projects", r'{"name": "p", "label_budget": 3, "settings": {"lr": NaN}}', "body.settings.lr: nan is not"),
        (
            "/projects",
            r'{"name": "p", "label_budget": 3, "settings": {"steps": [1, {"w": -Infinity}]}}',
            "body.settings.steps[1].w: -inf is not a JSON number",
        ),
        ("/projects", r'{"name": "p", "label_budget": 3, "settings": {"k\u0000": 1}}', "body.settings: a key contains"),
        (
            "/projects",
            r'{"name": "p", "label_budget": 3, "classes": [{"train_id": 0, "name": "ro\u0000d", "color": [1, 2, 3]}]}',
            "body.classes[0].name: contains a NUL character",
        ),
    ],
    ids=["nul", "lone-surrogate", "nan", "nested-infinity", "nul-key", "nested-class-name"],
)
def test_unstorable_json_refused_naming_the_field(api: Api, url: str, raw: str, where: str) -> None:
    before = _rows()
    res = _post_json(api, url, raw)
    assert res.status_code == 422, res.text
    assert where in res.json()["detail"][0]["msg"], res.text
    assert _rows() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "p", "label_budget": TOO_BIG}, "label_budget"),
        ({"name": "p", "label_budget": 3, "image_width": TOO_BIG}, "image_width"),
        ({"name": "p", "label_budget": 3, "round_schedule": [2, TOO_BIG]}, "round_schedule"),
    ],
    ids=["budget", "image-width", "schedule"],
)
def test_project_integers_past_the_columns_refused(api: Api, body: dict, field: str) -> None:
    before = _rows()
    res = api.client.post("/projects", json=body, headers=api.lead)
    assert res.status_code == 422 and res.json()["detail"][0]["loc"][-1] == field, res.text
    assert str(INT32_MAX) in res.text
    assert _rows() == before


def test_round_and_requeue_integers_past_the_columns_refused(api: Api) -> None:
    pid = api.project()["id"]
    api.upload(pid, rgb_image(1), queue=False)
    res = api.client.post(f"/projects/{pid}/rounds", json={"batch_size": TOO_BIG}, headers=api.lead)
    assert res.status_code == 422 and res.json()["detail"][0]["loc"] == ["body", "batch_size"], res.text
    res = api.client.post(f"/projects/{pid}/queue/requeue-skipped", json={"image_ids": [1, TOO_BIG]}, headers=api.lead)
    assert res.status_code == 422 and res.json()["detail"][0]["loc"] == ["body", "image_ids", 1], res.text
    assert _rows()[2] == 0


@pytest.mark.parametrize(
    ("method", "url", "loc"),
    [
        ("get", f"/projects/{TOO_BIG}", ["path", "project_id"]),
        ("get", f"/projects/{10**30}/progress", ["path", "project_id"]),
        ("get", "/projects/0", ["path", "project_id"]),
        ("get", f"/images/{TOO_BIG}", ["path", "image_id"]),
        ("get", f"/images/1/mask?version={TOO_BIG}", ["query", "version"]),
        ("post", f"/leases/{TOO_BIG}/heartbeat", ["path", "lease_id"]),
        ("post", f"/rounds/-{TOO_BIG}/cancel", ["path", "round_id"]),
        ("get", f"/jobs/{TOO_BIG}", ["path", "job_id"]),
        ("get", f"/users/{TOO_BIG}/tokens", ["path", "user_id"]),
        ("get", f"/projects?offset={TOO_BIG}", ["query", "offset"]),
        ("get", f"/users?offset={10**40}", ["query", "offset"]),
    ],
)
def test_ids_and_offsets_past_the_columns_refused(api: Api, method: str, url: str, loc: list[str]) -> None:
    res = api.client.request(method, url, headers=api.admin)
    assert res.status_code == 422 and res.json()["detail"][0]["loc"] == loc, res.text


def test_largest_id_is_an_ordinary_not_found(api: Api) -> None:
    res = api.client.get(f"/images/{INT32_MAX}", headers=api.admin)
    assert res.status_code == 404 and f"image {INT32_MAX}" in res.json()["detail"], res.text


def test_problem_walks_nested_values() -> None:
    assert problem({"a": [1, "ok", {"b": 2.5}], "c": None}, "body") is None
    assert problem({"a": [1, {"b": float("nan")}]}, "body") == "body.a[1].b: nan is not a JSON number"
    assert problem(["x", "y\x00"], "ids") == "ids[1]: contains a NUL character (U+0000)"
    assert problem("caf\udce9", "name") == "name: contains '\\udce9', a lone UTF-16 surrogate that is not a character"
