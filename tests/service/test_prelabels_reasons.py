"""`next` with the pre-label links and the selection reason; the overlay route; a round's strategy name resolution."""

from __future__ import annotations

import numpy as np
from PIL import Image as PILImage

from service import storage
from service.db.session import session_scope
from service.db.tables import Image, ImageState, Round, Score
from tests.factories import encode_png, rgb_image
from tests.service.conftest import Api, Broker


def test_next_carries_prelabel_links_and_reason(api: Api) -> None:
    pid = api.project()["id"]
    plain = api.upload(pid, rgb_image(1))  # queued at upload: no round, no pre-label
    chosen = api.upload(pid, rgb_image(2), queue=False)
    with session_scope() as session:
        round_ = Round(project_id=pid, index=1, status="succeeded", batch_size=1, strategy="diversity+difficulty")
        session.add(round_)
        session.flush()
        session.add(Score(round_id=round_.id, image_id=chosen["id"], diversity=3.5, difficulty=0.01, entropy=1.2,
                          combined=13.5, rank=0))  # fmt: skip
        image = session.get(Image, chosen["id"])
        ids_rel = storage.prelabel_file(pid, image.id, 1)
        storage.absolute(ids_rel).parent.mkdir(parents=True, exist_ok=True)
        storage.absolute(ids_rel).write_bytes(encode_png(np.full((8, 12), 2, np.uint8)))
        image.state, image.queue_rank, image.queued_round_id = "queued", -1.0, round_.id
        image.prelabel_path = str(ids_rel)

    lease = api.client.post(f"/projects/{pid}/queue/next", headers=api.annotator).json()
    assert lease["image_id"] == chosen["id"] and lease["has_prelabel"]
    assert lease["reason"] == {"round_index": 1, "strategy": "diversity+difficulty", "rank": 0, "distance": 3.5,
                               "difficulty": 0.01, "entropy": 1.2, "combined": 13.5}  # fmt: skip
    links = lease["prelabel"]
    assert links == {"class_ids_url": f"/images/{chosen['id']}/prelabel",
                     "overlay_url": f"/images/{chosen['id']}/prelabel/overlay"}  # fmt: skip
    ids = api.client.get(links["class_ids_url"], headers=api.annotator)
    assert ids.status_code == 200 and ids.headers["content-type"] == "image/png"
    missing = api.client.get(links["overlay_url"], headers=api.annotator)
    assert missing.status_code == 404 and "no overlay" in missing.json()["detail"]
    overlay_path = storage.absolute(storage.prelabel_overlay_file(pid, chosen["id"], 1))
    PILImage.fromarray(np.zeros((8, 12, 3), np.uint8)).save(overlay_path)
    assert storage.overlay_of(ids_rel) == storage.prelabel_overlay_file(pid, chosen["id"], 1)
    assert api.client.get(links["overlay_url"], headers=api.annotator).status_code == 200

    api.client.post(f"/leases/{lease['id']}/release", headers=api.annotator)
    with session_scope() as session:
        session.get(Image, chosen["id"]).state = ImageState.LABELED
    other = api.client.post(f"/projects/{pid}/queue/next", headers=api.annotator).json()
    assert other["image_id"] == plain["id"] and other["prelabel"] is None and other["reason"] is None
    assert api.client.get(f"/images/{plain['id']}/prelabel/overlay", headers=api.annotator).status_code == 404


def test_round_strategy_comes_from_request_settings_or_default(api: Api, broker: Broker) -> None:
    default = api.project(pool=1, name="a")["id"]
    assert api.client.post(f"/projects/{default}/rounds", json={}, headers=api.lead).json()["strategy"] == (
        "diversity+difficulty"
    )
    configured = api.project(pool=1, name="b", settings={"strategy": "entropy"})["id"]
    assert api.client.post(f"/projects/{configured}/rounds", json={}, headers=api.lead).json()["strategy"] == "entropy"
    for name in ("psychic", "slow_random"):  # one list of names, checked at the door: the registry's
        bad = api.client.post(f"/projects/{configured}/rounds", json={"strategy": name}, headers=api.lead)
        (error,) = bad.json()["detail"]
        assert bad.status_code == 422 and error["loc"] == ["body", "strategy"] and "'random'" in error["msg"]
    res = api.client.post("/projects", json={"name": "c", "label_budget": 3, "settings": {"pipeline": "plain"}},
                          headers=api.lead)  # fmt: skip
    assert res.status_code == 422 and res.json()["detail"][0]["loc"] == ["body", "settings", "pipeline"]
