"""The routes the browser app needs, for every client: `GET /strategies`, `GET /images/{id}/segments`,
`POST /images/{id}/lease` (take back an image after an expired lease), skip with a reason; and `/app` itself (its
files and security headers)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from contracts.strategies import StrategyName
from service import storage
from service.db.base import utcnow
from service.db.session import session_scope
from service.db.tables import Image, Lease
from tests.factories import encode_png, rgb_image
from tests.service.conftest import Api


def test_strategies_lists_the_names_rounds_accept(api: Api) -> None:
    body = api.client.get("/strategies", headers=api.annotator).json()
    assert [s["name"] for s in body["data"]] == list(StrategyName) and body["count"] == len(StrategyName)
    assert all(s["description"] for s in body["data"])
    assert api.client.get("/strategies").status_code == 401


def test_segments_route_serves_what_the_round_stored(api: Api) -> None:
    pid = api.project()["id"]
    image = api.upload(pid, rgb_image(1))
    assert image["has_segments"] is False and image["has_prelabel"] is False
    missing = api.client.get(f"/images/{image['id']}/segments", headers=api.annotator)
    assert missing.status_code == 404 and "no round queued it" in missing.json()["detail"]
    seg_rel = storage.segments_file(pid, image["id"], 1)
    with session_scope() as session:  # what the queue stage does with the predict stage's result
        session.get(Image, image["id"]).segments_path = str(seg_rel)
    no_file = api.client.get(f"/images/{image['id']}/segments", headers=api.annotator)
    assert no_file.status_code == 404 and "missing from storage" in no_file.json()["detail"]
    segments = np.zeros((8, 12, 3), np.uint8)
    segments[:, 6:, 0], segments[:, :, 1] = 7, 1  # ids 256 and 263
    seg_path = storage.absolute(seg_rel)
    seg_path.parent.mkdir(parents=True, exist_ok=True)
    seg_path.write_bytes(encode_png(segments))
    assert api.client.get(f"/images/{image['id']}", headers=api.annotator).json()["has_segments"] is True
    got = api.client.get(f"/images/{image['id']}/segments", headers=api.annotator)
    assert (
        got.status_code == 200 and got.headers["content-type"] == "image/png" and got.content == seg_path.read_bytes()
    )
    assert api.client.get(f"/images/{image['id']}/segments").status_code == 401
    assert api.client.get("/images/999999/segments", headers=api.annotator).status_code == 404


def test_take_back_an_image_after_the_lease_expired(api: Api) -> None:
    pid = api.project()["id"]
    first, second = api.upload(pid, rgb_image(1)), api.upload(pid, rgb_image(2))
    lease = api.client.post(f"/projects/{pid}/queue/next", headers=api.annotator).json()
    assert lease["image_id"] == first["id"]
    # holding an open lease in the project: taking another image is refused; taking its own image returns it
    other = api.client.post(f"/images/{second['id']}/lease", headers=api.annotator)
    assert other.status_code == 409 and f"you hold lease {lease['id']}" in other.json()["detail"]
    same = api.client.post(f"/images/{first['id']}/lease", headers=api.annotator).json()
    assert same["id"] == lease["id"]
    # someone else's leased image is refused by name
    taken = api.client.post(f"/images/{first['id']}/lease", headers=api.annotator2)
    assert taken.status_code == 409 and "leased to another annotator" in taken.json()["detail"]
    with session_scope() as session:  # the lease runs out while the annotator is still drawing
        session.get(Lease, lease["id"]).expires_at = utcnow() - timedelta(seconds=1)
    put = api.put_mask(first["id"], encode_png(np.ones((8, 12), np.uint8)), api.annotator)
    assert put.status_code == 410
    again = api.client.post(f"/images/{first['id']}/lease", headers=api.annotator)
    assert again.status_code == 200, again.text
    body = again.json()
    assert body["id"] != lease["id"] and body["image_id"] == first["id"] and body["status"] == "open"
    assert body["image"]["state"] == "leased" and body["has_prelabel"] is False
    assert api.put_mask(first["id"], encode_png(np.ones((8, 12), np.uint8)), api.annotator).status_code == 201
    labeled = api.client.post(f"/images/{first['id']}/lease", headers=api.annotator2)
    assert labeled.status_code == 409 and "is labeled, not queued" in labeled.json()["detail"]
    assert api.client.post("/images/999999/lease", headers=api.annotator).status_code == 404


def test_skip_keeps_the_reason_until_requeued(api: Api) -> None:
    pid = api.project()["id"]
    image = api.upload(pid, rgb_image(1))
    lease = api.client.post(f"/projects/{pid}/queue/next", headers=api.annotator).json()
    too_long = api.client.post(f"/leases/{lease['id']}/skip", json={"reason": "x" * 501}, headers=api.annotator)
    assert too_long.status_code == 422
    skipped = api.client.post(f"/leases/{lease['id']}/skip", json={"reason": "lens covered by rain"},
                              headers=api.annotator)  # fmt: skip
    assert skipped.status_code == 200, skipped.text
    listed = api.client.get(f"/projects/{pid}/images", params={"state": "skipped"}, headers=api.lead).json()
    assert [(i["id"], i["skip_reason"]) for i in listed["data"]] == [(image["id"], "lens covered by rain")]
    requeued = api.client.post(f"/projects/{pid}/queue/requeue-skipped", headers=api.lead).json()
    assert requeued["data"][0]["skip_reason"] is None
    lease = api.client.post(f"/projects/{pid}/queue/next", headers=api.annotator).json()
    assert api.client.post(f"/leases/{lease['id']}/skip", headers=api.annotator).status_code == 200  # no body: fine
    assert api.client.get(f"/images/{image['id']}", headers=api.lead).json()["skip_reason"] is None


def test_app_is_served_with_a_strict_content_security_policy(api: Api) -> None:
    redirect = api.client.get("/app", follow_redirects=False)
    assert redirect.status_code == 308 and redirect.headers["location"] == "/app/"
    page = api.client.get("/app/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'" and directives["default-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'" and "unsafe" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    html = page.text
    assert "<script>" not in html and 'type="module" src="js/main.js"' in html  # no inline script at all
    module = api.client.get("/app/js/main.js")
    assert module.status_code == 200 and "javascript" in module.headers["content-type"]
    assert module.headers["content-security-policy"] == csp
    assert api.client.get("/app/js/nothing.js").status_code == 404


def test_images_listed_in_queue_order(api: Api) -> None:
    pid = api.project()["id"]
    ids = [api.upload(pid, rgb_image(k))["id"] for k in range(3)]
    with session_scope() as session:
        for image_id, rank in zip(ids, (3.0, 1.0, 2.0), strict=True):
            session.get(Image, image_id).queue_rank = rank
    queued = api.client.get(f"/projects/{pid}/images", params={"state": "queued", "order": "queue"},
                            headers=api.annotator).json()  # fmt: skip
    assert [i["id"] for i in queued["data"]] == [ids[1], ids[2], ids[0]]
    lease = api.client.post(f"/projects/{pid}/queue/next", headers=api.annotator).json()
    assert lease["image_id"] == ids[1]  # the head of that list is what `next` leases
    by_id = api.client.get(f"/projects/{pid}/images", headers=api.annotator).json()
    assert [i["id"] for i in by_id["data"]] == ids
    assert api.client.get(f"/projects/{pid}/images", params={"order": "rank"}, headers=api.annotator).status_code == 422
