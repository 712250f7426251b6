"""The synthetic world: layout, determinism, and geometry that agrees with the pictures and the labels."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from contracts.cityscapes import find_frames, load_depth, load_image, load_label, load_pose, read_intrinsics
from models.data.synth import ARCHETYPES, build_scene, generate_world, intrinsics, read_archetypes, render
from models.data.synth.layout import sample_archetype
from models.data.synth.scene import CAR, PERSON, ROAD, SKY
from tests.models.data.conftest import WORLD_SIZE
from tests.models.data.geometry import warp_errors


def _digest(root: Path) -> dict[str, str]:
    files = (p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_layout_matches_cityscapes(world: Path) -> None:
    manifest = json.loads((world / "world.json").read_text())
    assert manifest["counts"] == {"train": 8, "val": 2}
    assert manifest["size"] == list(WORLD_SIZE) and manifest["seed"] == 3 and manifest["frames"] == 3
    for s in manifest["sequences"]:
        assert s["archetype"] in ARCHETYPES
        city, seq, split = s["city"], s["seq"], s["split"]
        base = f"{split}/{city}/{city}_{seq:06d}"
        for frame in (18, 19, 20):
            assert (world / f"leftImg8bit_sequence/{base}_{frame:06d}_leftImg8bit.png").is_file()
        assert not (world / f"leftImg8bit/{base}_000018_leftImg8bit.png").exists()
        for rel in ("leftImg8bit/{b}_000019_leftImg8bit.png", "gtFine/{b}_000019_gtFine_labelIds.png",
                    "gtFine/{b}_000019_gtFine_color.png", "camera/{b}_000019_camera.json",
                    "truth/{b}_000019_depth.png", "truth/{b}_000019_pose.json"):  # fmt: skip
            assert (world / rel.format(b=base)).is_file(), rel
        # the annotated frame is byte-identical in both image trees
        a = world / f"leftImg8bit/{base}_000019_leftImg8bit.png"
        b = world / f"leftImg8bit_sequence/{base}_000019_leftImg8bit.png"
        assert a.read_bytes() == b.read_bytes()
    names = read_archetypes(world)
    assert sorted(names) == sorted(r.name for split in ("train", "val") for r in find_frames(world, split))
    K = read_intrinsics(next((world / "camera").rglob("*.json")), image_size=WORLD_SIZE)
    np.testing.assert_allclose(K, intrinsics(WORLD_SIZE))


def test_deterministic_per_seed(tmp_path: Path) -> None:
    kw = {"sequences": 3, "size": (32, 64)}
    generate_world(tmp_path / "a", seed=11, **kw)
    generate_world(tmp_path / "b", seed=11, workers=2, **kw)
    generate_world(tmp_path / "c", seed=12, **kw)
    da, db, dc = _digest(tmp_path / "a"), _digest(tmp_path / "b"), _digest(tmp_path / "c")
    assert da == db
    pngs = {k for k in da if k.endswith(".png")}
    assert {da[k] for k in pngs} & {dc.get(k) for k in pngs} == set()  # a new seed changes every picture


def test_frames_option_writes_longer_sequences(tmp_path: Path) -> None:
    generate_world(tmp_path, sequences=1, size=(32, 64), seed=0, frames=5, val_fraction=0.0)
    frames = sorted(p.name.split("_")[2] for p in (tmp_path / "leftImg8bit_sequence").rglob("*.png"))
    assert frames == ["000017", "000018", "000019", "000020", "000021"]
    pose = load_pose(next((tmp_path / "truth").rglob("*_pose.json")))
    assert sorted(pose) == [-2, -1, 0, 1, 2]
    with pytest.raises(ValueError, match="odd"):
        generate_world(tmp_path / "x", sequences=1, size=(32, 64), seed=0, frames=4)


def test_true_warp_reconstructs_neighbours(world: Path) -> None:
    """Back-project with true depth, move by the true ego-motion, project: the neighbour frame matches."""
    ratios = []
    for rec in find_frames(world, "train"):
        img, depth, K, poses = load_image(rec.image), load_depth(rec.depth), rec.K, load_pose(rec.pose)
        for offset, path in ((1, rec.next), (-1, rec.prev)):
            T = np.linalg.inv(poses[offset]) @ poses[0]  # camera t -> camera t+offset
            warp, identity, valid = warp_errors(img, load_image(path), depth, K, T)
            assert valid.mean() > 0.5
            ratios.append(warp / identity)
            assert warp < 0.6 * identity, (rec.name, offset, warp, identity)
    assert np.median(ratios) < 0.35


def test_static_scene_warp_is_near_exact() -> None:
    """Without moving objects the true warp leaves only resampling error (textures are fixed in the world)."""
    size = (96, 192)
    K = intrinsics(size)
    warps, identities = [], []
    for i, archetype in enumerate(("street", "residential", "intersection", "parked_row")):
        scene = build_scene(5, i, archetype)
        boxes = dataclasses.replace(scene.boxes, vel=scene.boxes.vel * 0)
        static = dataclasses.replace(scene, boxes=boxes)
        f0, f1 = render(static, 0, K, size), render(static, 1, K, size)
        T = np.linalg.inv(static.cam_to_world[1]) @ static.cam_to_world[0]
        warp, identity, _ = warp_errors(f0.rgb, f1.rgb, f0.depth, K, T)
        warps.append(warp)
        identities.append(identity)
    assert max(warps) < 5.0, warps  # of 255
    assert np.sum(warps) < 0.3 * np.sum(identities), (warps, identities)


def test_antialias_keeps_labels_and_depth_on_pixel_centres() -> None:
    size = (24, 48)
    K = intrinsics(size)
    scene = build_scene(2, 0, "street")
    plain, smooth = render(scene, 0, K, size), render(scene, 0, K, size, antialias=3)
    np.testing.assert_array_equal(smooth.train_ids, plain.train_ids)
    np.testing.assert_allclose(smooth.depth, plain.depth, rtol=1e-5)
    diff = np.abs(smooth.rgb.astype(int) - plain.rgb.astype(int))
    assert 0 < diff.mean() < 10  # colours are averaged, mostly at edges
    with pytest.raises(ValueError, match="odd"):
        render(scene, 0, K, size, antialias=2)


def test_true_depth_minimises_the_photometric_error(world: Path) -> None:
    """What self-supervised depth relies on: scaling the true depth away from 1 makes the warp worse."""
    rec = find_frames(world, "train")[0]
    img, nxt, depth, poses = load_image(rec.image), load_image(rec.next), load_depth(rec.depth), load_pose(rec.pose)
    T = np.linalg.inv(poses[1]) @ poses[0]
    errors = {s: warp_errors(img, nxt, depth * s, rec.K, T)[0] for s in (0.6, 0.8, 1.0, 1.25, 1.6)}
    assert min(errors, key=errors.get) == 1.0, errors
    assert errors[0.6] > 1.3 * errors[1.0] and errors[1.6] > 1.3 * errors[1.0]


def test_labels_agree_with_geometry(world: Path) -> None:
    for rec in find_frames(world, "train") + find_frames(world, "val"):
        labels, depth, K = load_label(rec.label), load_depth(rec.depth), rec.K
        cam_to_world = load_pose(rec.pose)[0]
        assert (labels != 255).all()  # every pixel carries a train class
        assert (depth[labels == SKY] == 0).all()  # sky has no depth
        assert (depth[labels != SKY] > 0).mean() > 0.99  # everything else has (except beyond 250 m)
        # road pixels back-project onto the ground plane y = 0 (world y points down)
        v, u = np.nonzero((labels == ROAD) & (depth > 0))
        P = np.stack([u, v, np.ones_like(u)], 1) @ np.linalg.inv(K).T * depth[v, u, None]
        world_y = P @ cam_to_world[:3, :3].T[:, 1] + cam_to_world[1, 3]
        # depth is stored with 1/256 m steps: allow that quantisation, scaled by the ray's slope
        assert np.abs(world_y).max() < 0.05, np.abs(world_y).max()
        assert (labels == ROAD).mean() > 0.1


def test_moving_objects_are_a_minority() -> None:
    size = (64, 128)
    K = intrinsics(size)
    moving = []
    for i in range(14):
        scene = build_scene(0, i, sample_archetype(np.random.default_rng(i)))
        hits_ids = render(scene, 0, K, size)
        movers = np.linalg.norm(scene.boxes.vel, axis=1) > 0
        moving_classes = set(scene.boxes.cls[movers].tolist())
        moving.append(np.isin(hits_ids.train_ids, list(moving_classes)).mean() if moving_classes else 0.0)
    assert np.mean(moving) < 0.15, moving


def test_archetype_frequencies_are_unequal_and_documented() -> None:
    rng = np.random.default_rng(0)
    counts = Counter(sample_archetype(rng) for _ in range(4000))
    assert set(counts) == set(ARCHETYPES)
    for name, p in ARCHETYPES.items():
        assert abs(counts[name] / 4000 - p) < 0.025, (name, counts[name])
    assert max(ARCHETYPES.values()) >= 5 * min(ARCHETYPES.values())


def test_rare_classes_live_in_rare_archetypes() -> None:
    size = (48, 96)
    K = intrinsics(size)

    def pixels(archetype: str, cls: int, n: int = 4) -> float:
        return float(np.mean([(render(build_scene(1, i, archetype), 0, K, size).train_ids == cls).mean()
                              for i in range(n)]))  # fmt: skip

    assert pixels("tram", 16) > 0.01 and pixels("street", 16) == 0.0  # trains only with trams
    assert pixels("crowd", PERSON) > 3 * pixels("street", PERSON)
    assert pixels("parked_row", CAR) > pixels("residential", CAR)
