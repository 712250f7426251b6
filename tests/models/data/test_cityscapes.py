"""The Cityscapes reader: the official label table, pairing, intrinsics, resizing, and every kind of bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from contracts import cityscapes as cs
from tests.models.data.conftest import WORLD_SIZE

# Written out independently from cityscapesScripts' labels.py: (name, id, trainId), trainId 255/-1 = ignore.
OFFICIAL = [
    ("unlabeled", 0, 255), ("ego vehicle", 1, 255), ("rectification border", 2, 255), ("out of roi", 3, 255),
    ("static", 4, 255), ("dynamic", 5, 255), ("ground", 6, 255), ("road", 7, 0), ("sidewalk", 8, 1),
    ("parking", 9, 255), ("rail track", 10, 255), ("building", 11, 2), ("wall", 12, 3), ("fence", 13, 4),
    ("guard rail", 14, 255), ("bridge", 15, 255), ("tunnel", 16, 255), ("pole", 17, 5), ("polegroup", 18, 255),
    ("traffic light", 19, 6), ("traffic sign", 20, 7), ("vegetation", 21, 8), ("terrain", 22, 9), ("sky", 23, 10),
    ("person", 24, 11), ("rider", 25, 12), ("car", 26, 13), ("truck", 27, 14), ("bus", 28, 15),
    ("caravan", 29, 255), ("trailer", 30, 255), ("train", 31, 16), ("motorcycle", 32, 17), ("bicycle", 33, 18),
    ("license plate", -1, -1),
]  # fmt: skip
OFFICIAL_COLOURS = {
    "road": (128, 64, 128), "sidewalk": (244, 35, 232), "building": (70, 70, 70), "wall": (102, 102, 156),
    "fence": (190, 153, 153), "pole": (153, 153, 153), "traffic light": (250, 170, 30), "traffic sign": (220, 220, 0),
    "vegetation": (107, 142, 35), "terrain": (152, 251, 152), "sky": (70, 130, 180), "person": (220, 20, 60),
    "rider": (255, 0, 0), "car": (0, 0, 142), "truck": (0, 0, 70), "bus": (0, 60, 100), "train": (0, 80, 100),
    "motorcycle": (0, 0, 230), "bicycle": (119, 11, 32),
}  # fmt: skip


def test_label_table_matches_official_definitions() -> None:
    ids = np.array([i for _, i, _ in OFFICIAL])
    expected = np.array([255 if t in (255, -1) else t for _, _, t in OFFICIAL], dtype=np.uint8)
    np.testing.assert_array_equal(cs.label_ids_to_train_ids(ids), expected)  # int path, includes -1
    np.testing.assert_array_equal(cs.label_ids_to_train_ids(ids[ids >= 0].astype(np.uint8)), expected[ids >= 0])
    out = cs.label_ids_to_train_ids(np.array([[7, 26], [23, 0]], dtype=np.uint8))
    assert out.dtype == np.uint8 and out.tolist() == [[0, 13], [10, 255]]


def test_classes_and_colours_are_official() -> None:
    train = sorted((t, name) for name, _, t in OFFICIAL if t not in (255, -1))
    assert [name for name, _ in cs.CITYSCAPES_CLASSES] == [name for _, name in train]
    assert dict(cs.CITYSCAPES_CLASSES) == OFFICIAL_COLOURS


@pytest.mark.parametrize("bad", [34, 200, -2])
def test_unknown_label_ids_raise(bad: int) -> None:
    with pytest.raises(ValueError, match=str(bad)):
        cs.label_ids_to_train_ids(np.array([7, bad]))


def test_reader_modules_do_not_import_torch() -> None:
    code = "import sys, contracts.cityscapes, models.data.synth; assert 'torch' not in sys.modules, 'torch'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[3])


def test_find_frames_pairs_neighbours_and_intrinsics(world: Path) -> None:
    recs = cs.find_frames(world, "train")
    assert len(recs) == 8 and recs.skipped == []
    assert [r.image for r in recs] == sorted(r.image for r in recs)
    for r in recs:
        city, seq, frame = r.name.rsplit("_", 2)
        assert frame == "000019" and r.city == city and r.split == "train"
        assert r.prev.name == f"{city}_{seq}_000018_leftImg8bit.png"
        assert r.next.name == f"{city}_{seq}_000020_leftImg8bit.png"
        assert r.prev.parent == world / "leftImg8bit_sequence" / "train" / city
        assert r.label.name == f"{r.name}_gtFine_labelIds.png" and r.depth.is_file() and r.pose.is_file()
        assert r.K.shape == (3, 3) and r.K[0, 0] == pytest.approx(2262.52 / 2048 * WORLD_SIZE[1])
    assert len(cs.find_frames(world, "val")) == 2


def test_read_intrinsics_scales_to_image_size(tmp_path: Path) -> None:
    real = {"extrinsic": {}, "intrinsic": {"fx": 2262.52, "fy": 2265.3018, "u0": 1096.98, "v0": 513.137}}
    path = tmp_path / "c_camera.json"
    path.write_text(json.dumps(real))
    K = cs.read_intrinsics(path)
    assert K[0, 0] == 2262.52 and K[1, 2] == 513.137
    half = cs.read_intrinsics(path, image_size=(512, 1024))  # no imgWidth: the 2048×1024 sensor is assumed
    np.testing.assert_allclose(half[[0, 1, 0, 1], [0, 1, 2, 2]], [1131.26, 1132.6509, 548.24, 256.3185])
    np.testing.assert_allclose(cs.scale_intrinsics(half, (512, 1024), (1024, 2048)), K)


def test_real_cityscapes_style_tree_with_jpgs(tmp_path: Path) -> None:
    """leftImg8bit_small-style JPEGs at 64×128 with real 2048×1024 camera files: K is scaled to the JPEG size."""
    img = Image.fromarray(np.zeros((64, 128, 3), dtype=np.uint8))
    stem = "aachen_000001_000019"
    for tree, frame in (("leftImg8bit", 19), ("leftImg8bit_sequence", 18), ("leftImg8bit_sequence", 19),
                        ("leftImg8bit_sequence", 20)):  # fmt: skip
        (tmp_path / tree / "val" / "aachen").mkdir(parents=True, exist_ok=True)
        img.save(tmp_path / tree / "val" / "aachen" / f"aachen_000001_{frame:06d}_leftImg8bit.jpg")
    (tmp_path / "gtFine" / "val" / "aachen").mkdir(parents=True)
    label = tmp_path / "gtFine/val/aachen" / f"{stem}_gtFine_labelIds.png"
    Image.fromarray(np.full((1024, 2048), 7, np.uint8)).save(label)
    (tmp_path / "camera" / "val" / "aachen").mkdir(parents=True)
    intrinsic = {"fx": 2262.52, "fy": 2265.3018, "u0": 1096.98, "v0": 513.137}
    camera = {"extrinsic": {"baseline": 0.2}, "intrinsic": intrinsic}
    (tmp_path / "camera/val/aachen" / f"{stem}_camera.json").write_text(json.dumps(camera))
    (rec,) = cs.find_frames(tmp_path, "val")
    assert rec.image.suffix == ".jpg" and rec.prev.name == "aachen_000001_000018_leftImg8bit.jpg"
    assert rec.depth is None and rec.pose is None
    assert rec.K[0, 0] == pytest.approx(2262.52 / 16) and rec.K[0, 2] == pytest.approx((1096.98 + 0.5) / 16 - 0.5)
    assert (cs.load_label(rec.label, size=(64, 128)) == 0).all()  # full-size label, nearest-resized


def test_missing_camera_json_error_or_cityscapes_default(world: Path, tmp_path: Path) -> None:
    root = _copy(world, tmp_path)
    r = cs.find_frames(root, "train")[0]
    cam = root / "camera" / "train" / r.city / f"{r.name}_camera.json"
    cam.unlink()
    with pytest.raises(cs.DataError, match=cam.name):
        cs.find_frames(root, "train")
    recs = cs.find_frames(root, "train", missing_camera="cityscapes")
    K = next(x.K for x in recs if x.name == r.name)
    np.testing.assert_allclose(K, cs.scale_intrinsics(cs.CITYSCAPES_K, (1024, 2048), WORLD_SIZE))
    assert K[0, 0] == pytest.approx(2262.52 * WORLD_SIZE[1] / 2048)


def test_resize_loads_scale_consistently(world: Path) -> None:
    r = cs.find_frames(world, "train")[0]
    size = (48, 96)
    img, lbl, depth = cs.load_image(r.image, size), cs.load_label(r.label, size), cs.load_depth(r.depth, size)
    assert img.shape == (48, 96, 3) and img.dtype == np.uint8
    full_lbl, full_depth = cs.load_label(r.label), cs.load_depth(r.depth)
    # nearest: every resized value exists at the matching full-resolution pixel
    np.testing.assert_array_equal(lbl, full_lbl[1::2, 1::2])
    np.testing.assert_array_equal(depth, full_depth[1::2, 1::2])


def _copy(world: Path, tmp_path: Path) -> Path:
    root = tmp_path / "w"
    shutil.copytree(world, root)
    return root


def test_missing_neighbour_is_an_error_or_a_counted_skip(world: Path, tmp_path: Path) -> None:
    root = _copy(world, tmp_path)
    victim = cs.find_frames(root, "train")[2]
    victim.next.unlink()
    with pytest.raises(cs.DataError, match=victim.next.name):
        cs.find_frames(root, "train")
    lenient = cs.find_frames(root, "train", lenient=True)
    assert len(lenient) == 7 and len(lenient.skipped) == 1 and lenient.skipped[0].path == victim.image
    loose = cs.find_frames(root, "train", require_neighbours=False)
    assert [r.next for r in loose if r.name == victim.name] == [None]


def test_mismatched_neighbour_or_label_shape_is_named(world: Path, tmp_path: Path) -> None:
    root = _copy(world, tmp_path)
    a, b = cs.find_frames(root, "train")[:2]
    Image.open(a.prev).resize((64, 64)).save(a.prev)
    with pytest.raises(cs.DataError, match=a.prev.name):
        cs.find_frames(root, "train")
    Image.open(a.prev).resize(WORLD_SIZE[::-1]).save(a.prev)
    Image.open(b.label).resize((100, 100), Image.Resampling.NEAREST).save(b.label)
    with pytest.raises(cs.DataError, match=b.label.name):
        cs.find_frames(root, "train")
    Image.open(b.label).resize((WORLD_SIZE[1] * 2, WORLD_SIZE[0] * 2), Image.Resampling.NEAREST).save(b.label)
    assert len(cs.find_frames(root, "train")) == 8  # a larger label of the same shape is fine (§6)


def test_label_without_image_is_reported(world: Path, tmp_path: Path) -> None:
    root = _copy(world, tmp_path)
    r = cs.find_frames(root, "train")[0]
    orphan = r.label.with_name(r.label.name.replace("_000019_", "_000099_"))
    shutil.copy(r.label, orphan)
    with pytest.raises(cs.DataError, match=orphan.name):
        cs.find_frames(root, "train")
    assert [s.path for s in cs.find_frames(root, "train", lenient=True).skipped] == [orphan]


def test_truncated_png_is_named(world: Path, tmp_path: Path) -> None:
    root = _copy(world, tmp_path)
    r = cs.find_frames(root, "train")[1]
    data = r.prev.read_bytes()
    r.prev.write_bytes(data[: len(data) // 2])
    with pytest.raises(cs.DataError, match=r.prev.name):
        cs.load_image(r.prev)
    with pytest.raises(cs.DataError, match=r.prev.name):
        cs.find_frames(root, "train", verify=True)
    lenient = cs.find_frames(root, "train", lenient=True)
    assert len(lenient) == 7 and r.prev.name in lenient.skipped[0].reason


def test_unknown_label_ids_in_a_file_are_named(world: Path, tmp_path: Path) -> None:
    r = cs.find_frames(world, "train")[0]
    bad = tmp_path / "x_gtFine_labelIds.png"
    ids = np.array(Image.open(r.label))
    ids[0, :3] = 77
    Image.fromarray(ids).save(bad)
    with pytest.raises(cs.DataError, match=r"x_gtFine_labelIds.png.*77"):
        cs.load_label(bad)


@pytest.mark.parametrize("content", ['{"intrinsic": {"fx": 1, "u0": 2, "v0": 3}}', "{not json", '{"extrinsic": {}}'])
def test_bad_camera_json_is_named(world: Path, tmp_path: Path, content: str) -> None:
    root = _copy(world, tmp_path)
    cam = next((root / "camera" / "train").rglob("*_camera.json"))
    cam.write_text(content)
    with pytest.raises(cs.DataError, match=cam.name):
        cs.find_frames(root, "train")
    assert len(cs.find_frames(root, "train", lenient=True).skipped) == 1


def test_missing_split_folder(tmp_path: Path) -> None:
    with pytest.raises(cs.DataError, match="leftImg8bit"):
        cs.find_frames(tmp_path, "train")
