"""Brush RLE, the overlap rule and the labelling config, without a server; the RLE is also checked against Label
Studio's own encoder and decoder (its SDK, in `.venv-labelstudio`), so depthal's codec is not only its own mirror."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from service.errors import Invalid
from service.labelstudio import rle
from service.labelstudio.config import check, labelling_config
from service.labelstudio.labels import merge_regions, prediction_results
from tests.worker.procs import REPO

CLASSES = {"road": 0, "car": 13}


def region(label: str, mask: np.ndarray, **extra: object) -> dict[str, object]:
    h, w = mask.shape
    value = {"format": "rle", "rle": rle.encode(mask), "brushlabels": [label]}
    return {"type": "brushlabels", "from_name": "label", "to_name": "image", "original_width": w,
            "original_height": h, "value": value} | extra  # fmt: skip


def test_encode_decode_round_trip_odd_sizes_and_long_runs() -> None:
    rng = np.random.default_rng(0)
    for h, w in ((1, 1), (7, 13), (300, 301)):  # 300x301: runs past the 16-bit run length (65,536 values)
        mask = rng.random((h, w)) > 0.6
        mask[: h // 2] = True
        assert (rle.decode(rle.encode(mask), width=w, height=h) == mask).all()


def test_malformed_rle_is_refused_by_name() -> None:
    encoded = rle.encode(np.ones((4, 4), bool))
    with pytest.raises(Invalid, match="but the image is 5x4"):
        rle.decode(encoded, width=5, height=4)
    with pytest.raises(Invalid, match="truncated"):
        rle.decode(encoded[:6], width=4, height=4)
    with pytest.raises(Invalid, match="list of bytes"):
        rle.decode([300, 1], width=4, height=4)


def test_later_region_wins_where_regions_overlap_and_uncovered_is_ignore() -> None:
    road = np.zeros((4, 6), bool)
    road[:, :4] = True
    car = np.zeros((4, 6), bool)
    car[1:3, 2:5] = True
    merged = merge_regions([region("road", road), region("car", car)], classes=CLASSES, width=6, height=4)
    assert merged.tolist() == [
        [0, 0, 0, 0, 255, 255],
        [0, 0, 13, 13, 13, 255],
        [0, 0, 13, 13, 13, 255],
        [0, 0, 0, 0, 255, 255],
    ]
    swapped = merge_regions([region("car", car), region("road", road)], classes=CLASSES, width=6, height=4)
    assert swapped[1, 2] == 0 and swapped[1, 4] == 13


def test_refusals_name_the_problem() -> None:
    ones = np.ones((4, 6), bool)
    with pytest.raises(Invalid, match="unknown label 'sky'"):
        merge_regions([region("road", ones), region("sky", ones)], classes=CLASSES, width=6, height=4)
    with pytest.raises(Invalid, match="is 6x4 but the image is 6x5"):
        merge_regions([region("road", ones)], classes=CLASSES, width=6, height=5)
    with pytest.raises(Invalid, match="only brushlabels"):
        merge_regions([region("road", ones, type="rectanglelabels")], classes=CLASSES, width=6, height=4)


def test_prediction_has_one_region_per_class_present() -> None:
    ids = np.full((4, 6), 255, np.uint8)
    ids[:2] = 13
    results = prediction_results(ids, {0: "road", 13: "car"})
    assert [r["value"]["brushlabels"] for r in results] == [["car"]]
    assert merge_regions(results, classes=CLASSES, width=6, height=4).tolist() == ids.tolist()


def test_config_has_one_brush_label_per_class_and_the_check_names_differences() -> None:
    xml = labelling_config([("road", (128, 64, 128)), ("car", (0, 0, 142))])
    assert 'BrushLabels name="label" toName="image"' in xml and 'background="#00008e"' in xml
    check(xml, ["road", "car"])
    with pytest.raises(Invalid, match="missing sky; unknown car"):
        check(xml, ["road", "sky"])
    with pytest.raises(Invalid, match="one BrushLabels tag"):
        check('<View><Image name="image" value="$image"/></View>', ["road"])


@pytest.mark.slow
def test_codec_agrees_with_label_studios_own() -> None:
    """Label Studio's SDK decodes depthal's encoding, and depthal decodes the SDK's (a 37x53 random region)."""
    mask = np.random.default_rng(1).random((37, 53)) > 0.5
    ls_python = REPO / ".venv-labelstudio" / "bin" / "python"
    code = (
        "import json, sys, numpy as np; from label_studio_sdk.converter import brush;"
        "d = json.load(sys.stdin); m = np.array(d['mask'], dtype=np.uint8) * 255;"
        "decoded = brush.decode_rle(d['rle']).reshape(37, 53, 4)[..., 3] >= 128;"
        "print(json.dumps({'decoded': decoded.tolist(), 'rle': brush.mask2rle(m)}))"
    )
    stdin = json.dumps({"mask": mask.tolist(), "rle": rle.encode(mask)})
    out = subprocess.run([str(ls_python), "-c", code], input=stdin, capture_output=True, text=True, check=True)
    theirs = json.loads(out.stdout)
    assert (np.array(theirs["decoded"]) == mask).all()
    assert (rle.decode(theirs["rle"], width=53, height=37) == mask).all()


def test_literal_chunks_decode() -> None:
    """Literal chunks (varied values: here a colour's RGBA per painted pixel) are as valid as runs in the format."""
    h, w = 3, 5
    region = np.zeros((h, w), bool)
    region[1, 1:4] = True
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[region] = (128, 64, 128, 255)
    values = rgba.ravel()
    stream = f"{values.size:032b}" + f"{7:05b}" + "".join(f"{b - 1:04b}" for b in (3, 4, 8, 16))
    for start in range(0, values.size, 8):  # literal chunks of 8 words: flag 0, size index 0 (3 bits), count - 1
        chunk = values[start : start + 8]
        stream += "0" + "00" + f"{len(chunk) - 1:03b}" + "".join(f"{v:08b}" for v in chunk)
    stream += "0" * (-len(stream) % 8)
    data = [int(stream[k : k + 8], 2) for k in range(0, len(stream), 8)]
    assert (rle.decode(data, width=w, height=h) == region).all()
