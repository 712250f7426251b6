"""PUT /images/{id}/mask: formats, versioning, idempotent retry, and every bad input (nothing stored)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from PIL import Image as PILImage

from service.db.base import utcnow
from service.db.session import session_scope
from service.db.tables import Annotation, Image, Lease
from tests.factories import declared_png, encode_png, id_mask, rgb_image
from tests.service.conftest import Api

_noise = encode_png(np.random.default_rng(1).integers(0, 19, (8, 12), dtype=np.uint8))


def _leased(api: Api, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    pid = api.project()["id"]
    api.upload(pid, rgb_image(0))
    res = api.client.post(f"/projects/{pid}/queue/next", headers=headers or api.annotator)
    assert res.status_code == 200
    return pid, res.json()


def _count() -> int:
    with session_scope() as s:
        return s.query(Annotation).count()


def test_train_id_mask_stored_and_downloadable(api: Api) -> None:
    _, lease = _leased(api)
    image_id = lease["image"]["id"]
    mask = np.zeros((8, 12), np.uint8)
    mask[:4] = 13
    mask[0, 0] = 255
    res = api.put_mask(image_id, encode_png(mask), api.annotator)
    assert res.status_code == 201, res.text
    body = res.json()
    assert body["version"] == 1 and body["lease_id"] == lease["id"]
    img = api.client.get(f"/images/{image_id}", headers=api.annotator).json()
    assert img["state"] == "labeled"
    got = api.client.get(f"/images/{image_id}/mask", headers=api.annotator)
    assert got.status_code == 200 and got.headers["x-mask-version"] == "1"
    import io

    assert np.array_equal(np.asarray(PILImage.open(io.BytesIO(got.content))), mask)
    color = api.client.get(f"/images/{image_id}/mask", params={"style": "color"}, headers=api.annotator)
    rgb = np.asarray(PILImage.open(io.BytesIO(color.content)))
    assert tuple(rgb[5, 5]) == (128, 64, 128) and tuple(rgb[1, 1]) == (0, 0, 142) and tuple(rgb[0, 0]) == (0, 0, 0)
    with session_scope() as s:
        from service.db.tables import Lease

        assert s.get(Lease, lease["id"]).status == "submitted"


def test_identical_retry_is_idempotent_and_new_content_is_new_version(api: Api) -> None:
    _, lease = _leased(api)
    image_id = lease["image"]["id"]
    first = api.put_mask(image_id, id_mask(1), api.annotator)
    retry = api.put_mask(image_id, id_mask(1), api.annotator)
    assert first.status_code == 201 and retry.status_code == 200
    assert retry.json()["id"] == first.json()["id"] and retry.json()["version"] == 1
    assert _count() == 1
    # the same labels as an RGB palette PNG are the same content: still idempotent
    rgb = np.zeros((8, 12, 3), np.uint8)
    rgb[:] = (244, 35, 232)
    assert api.put_mask(image_id, encode_png(rgb), api.lead).status_code == 200
    # a lead's correction is a new version; v1 stays
    second = api.put_mask(image_id, id_mask(2), api.lead)
    assert second.status_code == 201 and second.json()["version"] == 2
    assert _count() == 2
    v1 = api.client.get(f"/images/{image_id}/mask", params={"version": 1}, headers=api.lead)
    assert v1.headers["x-mask-version"] == "1"
    assert api.client.get(f"/images/{image_id}/mask", params={"version": 9}, headers=api.lead).status_code == 404


def test_palette_and_label_ids_formats(api: Api) -> None:
    _, lease = _leased(api)
    image_id = lease["image"]["id"]
    rgb = np.zeros((8, 12, 3), np.uint8)
    rgb[:, :6] = (70, 130, 180)  # sky = 10; the rest black = ignore
    assert api.put_mask(image_id, encode_png(rgb), api.annotator).status_code == 201
    labels = np.full((8, 12), 26, np.uint8)  # car
    labels[0] = 0  # unlabeled → ignore
    labels[1] = 7  # road
    res = api.put_mask(image_id, encode_png(labels), api.lead, fmt="label_ids")
    assert res.status_code == 201 and res.json()["version"] == 2
    import io

    got = np.asarray(PILImage.open(io.BytesIO(api.client.get(f"/images/{image_id}/mask", headers=api.lead).content)))
    assert got[0, 0] == 255 and got[1, 0] == 0 and got[5, 5] == 13


@pytest.mark.parametrize(
    ("payload", "fmt", "needle"),
    [
        (id_mask(0, h=9), None, "mask is 12x9 but the image is 12x8"),
        (encode_png(np.zeros((8, 12, 4), np.uint8)), None, "mode RGBA"),
        (encode_png(np.zeros((8, 12, 3), np.uint8)), "train_ids", "single-channel"),
        (id_mask(np.array([[19, 40] * 6] * 8)), None, "class ids 19, 40"),
        (id_mask(np.array([[7, 34] * 6] * 8)), "label_ids", "unknown Cityscapes label ids [34]"),
        (encode_png(np.full((8, 12, 3), (1, 2, 3), np.uint8)), None, "colours (1, 2, 3)"),
        (b"GIF89a not a png at all", None, "not a PNG"),
        (id_mask(3)[:-12], None, "truncated"),
        (_noise[: len(_noise) // 2], None, "truncated"),
        (declared_png(20_000, 10_000), None, "mask is larger than any image may be"),
    ],
    ids=["size", "mode", "rgb-as-ids", "class-ids", "label-ids", "colour", "not-png", "no-iend", "truncated", "bomb"],
)
def test_bad_masks_are_refused_and_nothing_stored(api: Api, payload: bytes, fmt: str | None, needle: str) -> None:
    _, lease = _leased(api)
    res = api.put_mask(lease["image"]["id"], payload, api.annotator, fmt=fmt)
    assert res.status_code == 422 and needle in res.json()["detail"], res.text
    assert _count() == 0
    assert api.client.get(f"/images/{lease['image']['id']}", headers=api.lead).json()["state"] == "leased"


def test_jpeg_mask_refused(api: Api) -> None:
    import io

    _, lease = _leased(api)
    buf = io.BytesIO()
    PILImage.fromarray(np.zeros((8, 12), np.uint8)).save(buf, format="JPEG")
    res = api.put_mask(lease["image"]["id"], buf.getvalue(), api.annotator)
    assert res.status_code == 422 and "must be a PNG; got JPEG" in res.json()["detail"]


def test_lease_rules(api: Api) -> None:
    _, lease = _leased(api)
    image_id = lease["image"]["id"]
    res = api.put_mask(image_id, id_mask(1), api.annotator2)  # foreign lease
    assert res.status_code == 403 and "leased to another annotator" in res.json()["detail"]
    res = api.put_mask(4242, id_mask(1), api.annotator)
    assert res.status_code == 404 and "image 4242" in res.json()["detail"]
    pid2 = api.project(name="q")["id"]
    other = api.upload(pid2, rgb_image(5), queue=False)
    res = api.put_mask(other["id"], id_mask(1), api.annotator)  # never leased
    assert res.status_code == 403 and "no lease" in res.json()["detail"]
    assert _count() == 0
    # a lead needs no lease
    assert api.put_mask(other["id"], id_mask(1), api.lead).status_code == 201


def test_submission_on_own_overdue_lease_is_gone_and_the_lease_stays(api: Api) -> None:
    _, lease = _leased(api)
    with session_scope() as s:  # past its TTL, but nobody has expired it yet
        s.get(Lease, lease["id"]).expires_at = utcnow() - timedelta(seconds=1)
    res = api.put_mask(lease["image"]["id"], id_mask(1), api.annotator)
    assert res.status_code == 410 and f"your lease {lease['id']}" in res.json()["detail"]
    assert _count() == 0
    with session_scope() as s:  # the refusal rolled back: lease and image as they were
        assert s.get(Lease, lease["id"]).status == "open"
        assert s.get(Image, lease["image"]["id"]).state == "leased"


def test_submission_closes_the_lease_and_records_it(api: Api) -> None:
    _, lease = _leased(api)
    res = api.put_mask(lease["image"]["id"], id_mask(1), api.annotator)
    assert res.status_code == 201 and res.json()["lease_id"] == lease["id"] and res.json()["version"] == 1
    with session_scope() as s:
        assert s.get(Lease, lease["id"]).status == "submitted"
        assert s.get(Image, lease["image"]["id"]).state == "labeled"


def test_submission_after_release_is_refused(api: Api) -> None:
    _, lease = _leased(api)
    api.client.post(f"/leases/{lease['id']}/release", headers=api.annotator)
    res = api.put_mask(lease["image"]["id"], id_mask(1), api.annotator)
    assert res.status_code == 409 and "released" in res.json()["detail"]
    assert _count() == 0


def test_mask_over_upload_limit_is_413(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from service.config import get_settings

    _, lease = _leased(api)
    monkeypatch.setenv("DEPTHAL_MAX_UPLOAD_BYTES", "300")
    get_settings.cache_clear()
    big = encode_png(np.random.default_rng(0).integers(0, 19, (8, 12), dtype=np.uint8).repeat(8, 0).repeat(8, 1))
    res = api.put_mask(lease["image"]["id"], big, api.annotator)
    assert res.status_code == 413 and "upload limit of 300 bytes" in res.json()["detail"]

    def chunks():  # no Content-Length: counted as it streams
        for _ in range(10):
            yield b"x" * 100

    res = api.client.put(
        f"/images/{lease['image']['id']}/mask", content=chunks(), headers=api.annotator | {"content-type": "image/png"}
    )
    assert res.status_code == 413
    assert _count() == 0


def test_raw_png_body_accepted(api: Api) -> None:
    _, lease = _leased(api)
    image_id = lease["image"]["id"]
    url = f"/images/{image_id}/mask"
    res = api.client.put(url, content=id_mask(5), headers=api.annotator | {"content-type": "image/png"})
    assert res.status_code == 201 and res.json()["version"] == 1
    res = api.client.put(url, content=b"", headers=api.lead | {"content-type": "image/png"})
    assert res.status_code == 422 and "empty request body" in res.json()["detail"]
    res = api.client.put(url, files={"other": ("m.png", id_mask(5))}, headers=api.lead)
    assert res.status_code == 422 and "'file'" in res.json()["detail"]
    assert _count() == 1


def test_lead_submissions_stack_versions(api: Api) -> None:
    """(A lead's mask also ends an annotator's open lease: tests/service/test_mask_integrity.py.)"""
    _, lease = _leased(api)
    image_id = lease["image"]["id"]
    assert api.put_mask(image_id, id_mask(1), api.lead).json()["version"] == 1
    res = api.put_mask(image_id, id_mask(2), api.lead)
    assert res.status_code == 201 and res.json()["version"] == 2 and res.json()["lease_id"] is None


def test_palette_mode_png_as_ids_and_16_bit_refused(api: Api) -> None:
    import io

    _, lease = _leased(api)
    image_id = lease["image"]["id"]
    p = PILImage.fromarray(np.full((8, 12), 7, np.uint8)).convert("P")  # indices, whatever the palette says
    buf = io.BytesIO()
    p.save(buf, format="PNG")
    assert api.put_mask(image_id, buf.getvalue(), api.annotator).status_code == 201
    stored = PILImage.open(io.BytesIO(api.client.get(f"/images/{image_id}/mask", headers=api.lead).content))
    assert stored.mode == "L" and (np.asarray(stored) == 7).all()
    wide = io.BytesIO()
    PILImage.fromarray(np.full((8, 12), 7, np.uint16)).save(wide, format="PNG")
    res = api.put_mask(image_id, wide.getvalue(), api.lead)
    assert res.status_code == 422 and "mode I;16" in res.json()["detail"]


def test_mask_file_reaches_the_disk_before_its_row_commits(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """A power cut right after the commit must not leave a row pointing at an unwritten file: the file and its
    directory entry are synced (fsync) before the annotation row commits."""
    import os

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from service import storage

    _, lease = _leased(api)
    events: list[tuple[str, int]] = []  # ("fsync", inode) or ("commit", 0), in order
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", os.fstat(fd).st_ino)), real_fsync(fd))[1])

    def on_commit(_conn: object) -> None:
        events.append(("commit", 0))

    event.listen(Engine, "commit", on_commit)  # every engine: the API's has no pre-ping, so it is not get_engine()
    try:
        res = api.put_mask(lease["image"]["id"], id_mask(3), api.annotator)
    finally:
        event.remove(Engine, "commit", on_commit)
    assert res.status_code == 201, res.text
    with session_scope() as s:
        path = storage.absolute(s.query(Annotation).one().mask_path)
    file_inode, dir_inode = path.stat().st_ino, path.parent.stat().st_ino
    last_commit = max(i for i, e in enumerate(events) if e[0] == "commit")
    synced = {inode for kind, inode in events[:last_commit] if kind == "fsync"}
    assert {file_inode, dir_inode} <= synced, events
