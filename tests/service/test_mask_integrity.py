"""Issue 19, items 7 and 11: a lead's correction is not overridden by the annotator holding the lease, and a mask
is stored as its pixels, re-encoded, not as the bytes that were sent."""

from __future__ import annotations

import errno
import io
import os

import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import PngImagePlugin

from service import storage
from service.db.session import session_scope
from service.db.tables import Annotation, Lease
from tests.factories import id_mask, rgb_image
from tests.service.conftest import Api


def test_a_leads_mask_ends_the_open_lease_and_the_annotators_later_mask_is_refused(api: Api) -> None:
    """Before: annotator `next`, lead PUTs v1, annotator PUTs v2 → 201, v2 silently replaced the correction."""
    pid = api.project()["id"]
    api.upload(pid, rgb_image(0))
    lease = api.client.post(f"/projects/{pid}/queue/next", headers=api.annotator).json()
    image_id = lease["image"]["id"]
    res = api.put_mask(image_id, id_mask(7), api.lead)
    assert res.status_code == 201 and res.json()["version"] == 1, res.text
    res = api.put_mask(image_id, id_mask(3), api.annotator)
    assert res.status_code == 409, res.text
    detail = res.json()["detail"]
    assert f"your lease {lease['id']} was ended: lead 'lead' stored version 1 of image {image_id}" in detail
    with session_scope() as s:
        assert [a.version for a in s.query(Annotation).filter_by(image_id=image_id)] == [1]
        assert s.get(Lease, lease["id"]).status == "released"
    got = api.client.get(f"/images/{image_id}/mask", headers=api.lead)
    assert got.headers["x-mask-version"] == "1"
    # the annotator is free to go on: their next lease is a new one (nothing else is queued here)
    assert api.client.post(f"/projects/{pid}/queue/next", headers=api.annotator).status_code == 204


def test_a_mask_is_stored_as_its_pixels_not_the_bytes_sent(api: Api) -> None:
    """Before: a valid 12×8 mask carrying a 4 MiB text chunk was stored byte for byte, 4 MiB on disk."""
    pid = api.project()["id"]
    image_id = api.upload(pid, rgb_image(0))["id"]
    padding = PngImagePlugin.PngInfo()
    padding.add_text("junk", "x" * (4 << 20), zip=False)
    buf = io.BytesIO()
    PILImage.fromarray(np.full((8, 12), 5, np.uint8), mode="L").save(buf, format="PNG", pnginfo=padding)
    sent = buf.getvalue()
    assert len(sent) > 4 << 20
    res = api.put_mask(image_id, sent, api.lead)
    assert res.status_code == 201, res.text
    with session_scope() as s:
        path = storage.absolute(s.query(Annotation).filter_by(image_id=image_id).one().mask_path)
    stored = path.read_bytes()
    assert len(stored) < 1000 and b"junk" not in stored
    assert np.array_equal(np.asarray(PILImage.open(io.BytesIO(stored))), np.full((8, 12), 5, np.uint8))


def test_a_full_disk_answers_507_and_leaves_no_temporary_file(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: a 500 and a `.tmp…` file left beside the masks."""
    pid = api.project()["id"]
    image_id = api.upload(pid, rgb_image(0))["id"]

    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    res = api.put_mask(image_id, id_mask(4), api.lead)
    monkeypatch.undo()
    assert res.status_code == 507, res.text
    assert res.json()["detail"] == "the server's storage is full; the mask was not stored, retry later"
    masks_dir = storage.absolute(storage.mask_file(pid, image_id, 1)).parent
    assert not masks_dir.exists() or list(masks_dir.iterdir()) == []
    with session_scope() as s:
        assert s.query(Annotation).filter_by(image_id=image_id).count() == 0
    assert api.put_mask(image_id, id_mask(4), api.lead).status_code == 201  # room again: stored as version 1


def test_a_large_image_upload_is_checked_without_decoding_its_pixels(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: every upload was decoded whole in the request thread (64 M pixels: ≈ 190 MB per request)."""
    from PIL import ImageFile

    decoded: list[int] = []
    load = ImageFile.ImageFile.load

    def counting_load(self: ImageFile.ImageFile):  # type: ignore[no-untyped-def]
        decoded.append(self.size[0] * self.size[1])
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    pid = api.project()["id"]
    for fmt in ("PNG", "JPEG"):
        buf = io.BytesIO()
        PILImage.new("RGB", (4000, 2500), (10, 20, 30)).save(buf, format=fmt)  # 10 M pixels
        res = api.client.post(
            f"/projects/{pid}/images", files={"file": (f"big.{fmt.lower()}", buf.getvalue())}, headers=api.lead
        )
        assert res.status_code == 201 and (res.json()["width"], res.json()["height"]) == (4000, 2500), res.text
    assert max(decoded) <= 500 * 313, decoded  # the JPEG at 1/8 scale; the PNG not decoded at all
    truncated = buf.getvalue()[: len(buf.getvalue()) // 2]  # a broken large JPEG is still refused
    res = api.client.post(f"/projects/{pid}/images", files={"file": ("cut.jpg", truncated)}, headers=api.lead)
    assert res.status_code == 422 and "not a readable PNG/JPEG" in res.json()["detail"], res.text
