"""Issue 19, item 8: every exported path is unique and confined to `gtFine/`, and the zip carries labelIds,
labelTrainIds, colour PNGs and a manifest that maps each label back to its image."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import PurePosixPath

import numpy as np
from PIL import Image as PILImage

from contracts.cityscapes import train_ids_to_label_ids
from tests.factories import id_mask, rgb_image
from tests.service.conftest import Api

NAMES = [
    "aachen_000000_000019_leftImg8bit.png",
    "aachen_000000_000019_leftImg8bit.png",  # the same name again, other pixels
    ".._000000_000019_leftImg8bit.png",  # before: gtFine/train/../.._000000_000019_gtFine_… (out of its folder)
    "..\\..\\evil_000000_000019_leftImg8bit.png",  # backslashes: a path on Windows unzippers
]


def test_export_paths_are_unique_and_confined_with_label_ids_and_a_manifest(api: Api) -> None:
    pid = api.project()["id"]
    ids = []
    for k, name in enumerate(NAMES):
        res = api.client.post(
            f"/projects/{pid}/images", files={"file": (name, rgb_image(k), "image/png")}, headers=api.lead
        )
        assert res.status_code == 201, res.text
        ids.append(res.json()["id"])
        assert api.put_mask(ids[-1], id_mask(k + 11), api.lead).status_code == 201
    res = api.client.get(f"/projects/{pid}/export", headers=api.lead)
    assert res.status_code == 200 and res.headers["x-labeled-images"] == "4"
    zf = zipfile.ZipFile(io.BytesIO(res.content))
    names = zf.namelist()
    assert len(names) == len(set(names)) == 4 * 3 + 1, names  # before: one path written twice
    for name in names:
        parts = PurePosixPath(name).parts
        assert "\\" not in name and ".." not in parts and not name.startswith("/"), name
        assert name == "manifest.json" or parts[0] == "gtFine", name
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["label_ids"] is True and [e["image_id"] for e in manifest["images"]] == ids
    for k, entry in enumerate(manifest["images"]):
        assert entry["name"] == NAMES[k] and entry["version"] == 1 and entry["annotator"] == "lead"
        train_ids = np.asarray(PILImage.open(io.BytesIO(zf.read(entry["files"]["labelTrainIds"]))))
        label_ids = np.asarray(PILImage.open(io.BytesIO(zf.read(entry["files"]["labelIds"]))))
        assert (train_ids == k + 11).all(), entry  # each label maps back to its own image
        assert np.array_equal(label_ids, train_ids_to_label_ids(train_ids))
        assert zf.read(entry["files"]["color"])[:4] == b"\x89PNG"
    first, second = (manifest["images"][k]["files"]["labelTrainIds"] for k in (0, 1))
    assert first == "gtFine/train/aachen/aachen_000000_000019_gtFine_labelTrainIds.png"
    assert second == f"gtFine/train/aachen/aachen_000000_000019_{ids[1]:06d}_gtFine_labelTrainIds.png"
