"""Image upload, folder import (plain and Cityscapes layout), listing, downloads, and their bad inputs."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from service.config import get_settings
from service.db.session import session_scope
from service.db.tables import Image
from tests.factories import declared_png, encode_png, rgb_image
from tests.service.conftest import Api


def _n_images() -> int:
    with session_scope() as s:
        return s.query(Image).count()


def _stored_files() -> list[Path]:
    root = get_settings().storage_dir
    return sorted(p for p in root.rglob("*") if p.is_file()) if root and root.exists() else []


def test_upload_with_neighbours_and_intrinsics_then_download(api: Api) -> None:
    pid = api.project()["id"]
    img, prev, nxt = rgb_image(1), rgb_image(2), rgb_image(3)
    res = api.client.post(
        f"/projects/{pid}/images",
        files={"file": ("a.png", img), "prev": ("p.png", prev), "next": ("n.png", nxt)},
        data={"role": "val", "intrinsics": json.dumps({"fx": 10, "fy": 11, "u0": 6, "v0": 4})},
        headers=api.lead,
    )
    assert res.status_code == 201, res.text
    body = res.json()
    assert body["role"] == "val" and body["state"] == "unlabeled" and (body["width"], body["height"]) == (12, 8)
    assert body["has_prev"] and body["has_next"] and body["intrinsics"] == {"fx": 10, "fy": 11, "u0": 6, "v0": 4}
    iid = body["id"]
    assert api.client.get(f"/images/{iid}/file", headers=api.annotator).content == img
    assert api.client.get(f"/images/{iid}/neighbours/prev", headers=api.annotator).content == prev
    assert api.client.get(f"/images/{iid}/neighbours/next", headers=api.annotator).content == nxt
    res = api.client.get(f"/images/{iid}/mask", headers=api.annotator)
    assert res.status_code == 404 and "has no mask" in res.json()["detail"]
    assert api.client.get(f"/images/{iid}/prelabel", headers=api.annotator).status_code == 404
    assert api.client.get(f"/images/{iid}/neighbours/later", headers=api.annotator).status_code == 422
    lone = api.upload(pid, rgb_image(4), queue=False)
    res = api.client.get(f"/images/{lone['id']}/neighbours/prev", headers=api.annotator)
    assert res.status_code == 404 and "no prev frame" in res.json()["detail"]
    assert api.client.get("/images/999/file", headers=api.annotator).status_code == 404


def test_jpeg_upload_accepted(api: Api) -> None:
    pid = api.project()["id"]
    buf = io.BytesIO()
    PILImage.fromarray(np.zeros((8, 12, 3), np.uint8)).save(buf, format="JPEG")
    res = api.client.post(f"/projects/{pid}/images", files={"file": ("a.jpeg", buf.getvalue())}, headers=api.lead)
    assert res.status_code == 201
    assert api.client.get(f"/images/{res.json()['id']}/file", headers=api.lead).content == buf.getvalue()


@pytest.mark.parametrize(
    ("files", "data", "status", "needle"),
    [
        ({"file": ("a.png", rgb_image(1)[:-40])}, {}, 422, "truncated"),
        ({"file": ("a.gif", b"GIF89a....")}, {}, 422, "not a readable PNG/JPEG"),
        (
            {"file": ("a.png", rgb_image(1)), "prev": ("p.png", rgb_image(2, h=9))},
            {},
            422,
            "prev frame of a.png is 12x9",
        ),
        ({"file": ("a.png", rgb_image(1))}, {"intrinsics": '{"fx": 1}'}, 422, "intrinsics must be JSON"),
        ({"file": ("a.png", rgb_image(1))}, {"role": "test"}, 422, ""),
        (
            {"file": ("a.png", rgb_image(1))},
            {"intrinsics": '{"fx": NaN, "fy": 1, "u0": 1, "v0": 1}'},
            422,
            "intrinsics fx must be finite",
        ),
        (
            {"file": ("a.png", rgb_image(1))},
            {"intrinsics": '{"fx": -5, "fy": 1e400, "u0": 1, "v0": 1}'},
            422,
            "intrinsics fx, fy must be finite, and focal lengths positive",
        ),
    ],
    ids=["truncated", "not-image", "neighbour-size", "intrinsics", "role", "intrinsics-nan", "intrinsics-negative-inf"],
)
def test_bad_uploads_refused_and_nothing_stored(api: Api, files: dict, data: dict, status: int, needle: str) -> None:
    pid = api.project()["id"]
    res = api.client.post(f"/projects/{pid}/images", files=files, data=data, headers=api.lead)
    assert res.status_code == status and needle in str(res.json()["detail"]), res.text
    assert _n_images() == 0 and [p for p in _stored_files() if "tmp" not in p.parts] == []


def test_duplicate_upload_refused(api: Api) -> None:
    pid = api.project()["id"]
    first = api.upload(pid, rgb_image(1), queue=False)
    res = api.client.post(f"/projects/{pid}/images", files={"file": ("b.png", rgb_image(1))}, headers=api.lead)
    assert res.status_code == 409 and f"duplicates image {first['id']}" in res.json()["detail"]
    assert _n_images() == 1


def test_upload_over_limit_refused(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    pid = api.project()["id"]
    monkeypatch.setenv("DEPTHAL_MAX_UPLOAD_BYTES", "2000")
    get_settings.cache_clear()
    big = encode_png(np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8))
    res = api.client.post(f"/projects/{pid}/images", files={"file": ("a.png", big)}, headers=api.lead)
    assert res.status_code == 413 and "upload limit of 2000 bytes" in res.json()["detail"]
    assert _n_images() == 0


def test_images_over_the_pixel_limit_refused_before_decoding(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Upload and folder import read the size from the header and refuse past DEPTHAL_MAX_IMAGE_PIXELS; a header
    past Pillow's own decompression-bomb limit names the setting too. Nothing is stored."""
    pid = api.project()["id"]
    monkeypatch.setenv("DEPTHAL_MAX_IMAGE_PIXELS", "95")  # the test images are 12x8 = 96 pixels
    get_settings.cache_clear()
    res = api.client.post(f"/projects/{pid}/images", files={"file": ("a.png", rgb_image(1))}, headers=api.lead)
    assert res.status_code == 422, res.text
    assert res.json()["detail"] == "a.png is 12x8, 96 pixels; images may have at most 95 (DEPTHAL_MAX_IMAGE_PIXELS)"
    _write(get_settings().import_root / "big" / "b.png", rgb_image(2))
    res = _import(api, pid, path="big")
    assert res.status_code == 422 and "b.png is 12x8, 96 pixels" in res.json()["detail"], res.text
    bomb = declared_png(20_000, 10_000)  # 200 M pixels in a few hundred bytes
    res = api.client.post(f"/projects/{pid}/images", files={"file": ("bomb.png", bomb)}, headers=api.lead)
    assert res.status_code == 422 and "exceeds limit" in res.json()["detail"], res.text
    assert "at most 95 pixels (DEPTHAL_MAX_IMAGE_PIXELS)" in res.json()["detail"]
    assert _n_images() == 0 and [p for p in _stored_files() if "tmp" not in p.parts] == []


def test_the_api_leaves_pillows_decompression_bomb_guard_on() -> None:
    """A module of the API once switched Pillow's guard off for the whole process (for masks), which let uploads
    of any declared size through to a full decode."""
    import service.main  # noqa: F401  (every module the API imports)

    assert PILImage.MAX_IMAGE_PIXELS is not None and PILImage.MAX_IMAGE_PIXELS > 0


def test_upload_wrong_role_and_unknown_project(api: Api) -> None:
    pid = api.project()["id"]
    res = api.client.post(f"/projects/{pid}/images", files={"file": ("a.png", rgb_image(1))}, headers=api.annotator)
    assert res.status_code == 403
    res = api.client.post("/projects/999/images", files={"file": ("a.png", rgb_image(1))}, headers=api.lead)
    assert res.status_code == 404
    assert _n_images() == 0


def test_list_filters_and_pagination(api: Api) -> None:
    pid = api.project()["id"]
    ids = [api.upload(pid, rgb_image(i), queue=i < 3)["id"] for i in range(5)]
    api.client.post(f"/projects/{pid}/queue/next", headers=api.annotator)
    get = lambda **q: api.client.get(f"/projects/{pid}/images", params=q, headers=api.annotator).json()  # noqa: E731
    assert get()["count"] == 5 and [i["id"] for i in get()["data"]] == ids
    page = get(offset=1, limit=2)
    assert page["count"] == 5 and [i["id"] for i in page["data"]] == ids[1:3]
    assert [i["id"] for i in get(state="queued")["data"]] == ids[1:3]
    assert [i["id"] for i in get(state="leased")["data"]] == ids[:1]
    assert get(state="unlabeled")["count"] == 2 and get(role="val")["count"] == 0 and get(role="pool")["count"] == 5
    res = api.client.get(f"/projects/{pid}/images", params={"state": "bogus"}, headers=api.annotator)
    assert res.status_code == 422
    res = api.client.get(f"/projects/{pid}/images", params={"limit": 0}, headers=api.annotator)
    assert res.status_code == 422
    assert api.client.get("/projects/999/images", headers=api.annotator).status_code == 404


# --- folder import ---------------------------------------------------------------------------------------------


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _cityscapes_tree(root: Path) -> None:
    """Two train frames (one with both neighbours), one val frame; camera files as real Cityscapes (sensor-sized,
    no image size) except lindau's, which names its image size as the synthetic world does."""
    seq = root / "leftImg8bit_sequence"
    _write(root / "leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png", rgb_image(10))
    _write(seq / "train/aachen/aachen_000000_000018_leftImg8bit.png", rgb_image(11))
    _write(seq / "train/aachen/aachen_000000_000020_leftImg8bit.png", rgb_image(12))
    _write(root / "leftImg8bit/train/bremen/bremen_000001_000005_leftImg8bit.png", rgb_image(13))
    _write(root / "leftImg8bit/val/lindau/lindau_000000_000019_leftImg8bit.png", rgb_image(14))
    cam = {"intrinsic": {"fx": 2048.0, "fy": 1024.0, "u0": 1023.5, "v0": 511.5}}
    for split, name in (("train", "aachen_000000_000019"), ("train", "bremen_000001_000005")):
        _write(root / f"camera/{split}/{name.split('_')[0]}/{name}_camera.json", json.dumps(cam).encode())
    own = {"intrinsic": {"fx": 10.0, "fy": 11.0, "u0": 6.0, "v0": 4.0}, "imgWidth": 12, "imgHeight": 8}
    _write(root / "camera/val/lindau/lindau_000000_000019_camera.json", json.dumps(own).encode())


def _import(api: Api, pid: int, **body: object) -> object:
    return api.client.post(f"/projects/{pid}/images/import", json=body, headers=api.lead)


def test_import_plain_folder(api: Api) -> None:
    root = get_settings().import_root
    for i in range(3):
        _write(root / "plain" / f"f{i}.png", rgb_image(20 + i))
    _write(root / "plain" / "notes.txt", b"ignored")
    pid = api.project()["id"]
    res = _import(api, pid, path="plain", queue=True)
    assert res.status_code == 201, res.text
    body = res.json()
    assert body["imported"] == 3 and [i["name"] for i in body["images"]] == ["f0.png", "f1.png", "f2.png"]
    assert all(i["state"] == "queued" for i in body["images"])
    assert [i["queue_rank"] for i in body["images"]] == [1.0, 2.0, 3.0]
    # files are copied into storage
    iid = body["images"][1]["id"]
    assert api.client.get(f"/images/{iid}/file", headers=api.lead).content == rgb_image(21)
    # re-import: duplicates refused, unless skipped
    res = _import(api, pid, path=str(root / "plain"))
    assert res.status_code == 409 and "f0.png duplicates image" in res.json()["detail"]
    res = _import(api, pid, path="plain", skip_duplicates=True)
    assert res.status_code == 201
    assert res.json() == {"imported": 0, "skipped_duplicates": 3, "images": [], "job": None, "warnings": []}
    assert _n_images() == 3


def test_import_cityscapes_layout(api: Api) -> None:
    _cityscapes_tree(get_settings().import_root / "cs")
    pid = api.project()["id"]
    res = _import(api, pid, path="cs")
    assert res.status_code == 201, res.text
    images = {i["name"]: i for i in res.json()["images"]}
    aachen = images["aachen_000000_000019_leftImg8bit.png"]
    assert aachen["role"] == "pool" and aachen["has_prev"] and aachen["has_next"]
    # sensor-sized intrinsics (2048x1024) scaled to the 12x8 image: centre stays the centre, f scales with size
    assert aachen["intrinsics"] == pytest.approx({"fx": 12.0, "fy": 8.0, "u0": 5.5, "v0": 3.5})
    bremen = images["bremen_000001_000005_leftImg8bit.png"]
    assert not bremen["has_prev"] and not bremen["has_next"]
    lindau = images["lindau_000000_000019_leftImg8bit.png"]
    assert lindau["role"] == "val" and lindau["intrinsics"] == {"fx": 10.0, "fy": 11.0, "u0": 6.0, "v0": 4.0}
    prev = api.client.get(f"/images/{aachen['id']}/neighbours/prev", headers=api.lead).content
    assert prev == rgb_image(11)


def test_import_cityscapes_without_camera_file_refused(api: Api) -> None:
    root = get_settings().import_root / "cs"
    _cityscapes_tree(root)
    (root / "camera/train/bremen/bremen_000001_000005_camera.json").unlink()
    pid = api.project()["id"]
    res = _import(api, pid, path="cs")
    assert res.status_code == 422 and "bremen_000001_000005_camera.json" in res.json()["detail"]
    assert _n_images() == 0
    res = _import(api, pid, path="cs", missing_camera="cityscapes")  # Cityscapes' fixed intrinsics instead
    assert res.status_code == 201
    bremen = next(i for i in res.json()["images"] if i["name"].startswith("bremen"))
    aachen = next(i for i in res.json()["images"] if i["name"].startswith("aachen"))
    assert bremen["intrinsics"]["fx"] > 0 and bremen["intrinsics"] != aachen["intrinsics"]


def test_import_cityscapes_layout_without_leftimg8bit_refused(api: Api) -> None:
    """Asked for the Cityscapes layout, a folder without leftImg8bit/ is a named 422 (it was a FileNotFoundError)."""
    _write(get_settings().import_root / "flat" / "a.png", rgb_image(30))
    pid = api.project()["id"]
    for path in ("flat", ""):
        res = _import(api, pid, path=path, layout="cityscapes")
        assert res.status_code == 422 and "needs a leftImg8bit/ folder" in res.json()["detail"], res.text
    assert _n_images() == 0


def test_import_file_name_that_is_not_utf8_refused(api: Api) -> None:
    """A file on disk whose name is not UTF-8 (Python reads it with lone surrogates) cannot be an image's name in
    the database: the import names it and stores nothing (it was a 500 from the driver)."""
    folder = get_settings().import_root / "latin1"
    _write(folder / "good.png", rgb_image(31))
    with open(os.fsencode(folder) + b"/caf\xe9.png", "wb") as fh:  # "café" in Latin-1
        fh.write(rgb_image(32))
    pid = api.project()["id"]
    res = _import(api, pid, path="latin1")
    assert res.status_code == 422, res.text
    assert "image name 'caf\\udce9.png' contains '\\udce9', a lone UTF-16 surrogate" in res.json()["detail"]
    assert _n_images() == 0 and [p for p in _stored_files() if "tmp" not in p.parts] == []


def test_import_path_outside_root_refused(api: Api, tmp_path: Path) -> None:
    pid = api.project()["id"]
    outside = tmp_path / "outside"
    _write(outside / "x.png", rgb_image(1))
    for path in (str(outside), "../../outside", "../"):
        res = _import(api, pid, path=path)
        assert res.status_code == 403 and "outside the import root" in res.json()["detail"], path
    res = _import(api, pid, path="missing")
    assert res.status_code == 404 and "not a folder" in res.json()["detail"]
    assert _n_images() == 0


def test_import_symlink_escaping_root_refused(api: Api, tmp_path: Path) -> None:
    root = get_settings().import_root
    secret = tmp_path / "secret"
    _write(secret / "s.png", rgb_image(1))
    _write(root / "mixed" / "ok.png", rgb_image(2))
    os.symlink(secret / "s.png", root / "mixed" / "leak.png")
    os.symlink(secret, root / "linkdir")
    pid = api.project()["id"]
    res = _import(api, pid, path="mixed")
    detail = res.json()["detail"]
    assert res.status_code == 403 and "leak.png" in detail and "outside the import root" in detail
    res = _import(api, pid, path="linkdir")
    assert res.status_code == 403
    assert _n_images() == 0 and _stored_files() == []


def test_import_bad_files_refused_all_or_nothing(api: Api) -> None:
    root = get_settings().import_root
    _write(root / "bad" / "a.png", rgb_image(1))
    _write(root / "bad" / "b.png", rgb_image(2)[:-30])
    pid = api.project()["id"]
    res = _import(api, pid, path="bad")
    assert res.status_code == 422 and "b.png" in res.json()["detail"]
    _write(root / "dups" / "a.png", rgb_image(1))
    _write(root / "dups" / "b.png", rgb_image(1))
    res = _import(api, pid, path="dups")
    assert res.status_code == 409 and "b.png duplicates a.png" in res.json()["detail"]
    (root / "empty").mkdir()
    res = _import(api, pid, path="empty")
    assert res.status_code == 422 and "no plain images" in res.json()["detail"]
    assert _n_images() == 0


def test_import_queue_respects_budget_and_role(api: Api) -> None:
    root = get_settings().import_root
    for i in range(3):
        _write(root / "three" / f"f{i}.png", rgb_image(30 + i))
    pid = api.project(label_budget=2)["id"]
    res = _import(api, pid, path="three", queue=True)
    assert res.status_code == 409 and "remaining label budget of 2" in res.json()["detail"]
    assert _n_images() == 0
    res = api.client.post(f"/projects/{pid}/images/import", json={"path": "three"}, headers=api.annotator)
    assert res.status_code == 403
