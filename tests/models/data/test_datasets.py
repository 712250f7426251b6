"""Torch datasets: batch contract, crop/flip that keep K right, colour jitter on the network inputs only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from contracts import cityscapes as cs
from models.data.datasets import (
    DepthEvalDataset,
    LabeledDataset,
    SequenceDataset,
    UnlabeledDataset,
    color_jitter,
    crop_flip_intrinsics,
)
from tests.models.data.geometry import warp_errors


@pytest.fixture(scope="module")
def records(world: Path) -> list[cs.FrameRecord]:
    return cs.find_frames(world, "train")


def test_sequence_batch_contract(records) -> None:
    ds = SequenceDataset(records, size=(48, 96), crop=(32, 64), seed=0)
    batch = next(iter(DataLoader(ds, batch_size=2)))
    for key in ("image", "prev", "next", "image_aug", "prev_aug", "next_aug"):
        assert batch[key].shape == (2, 3, 32, 64) and batch[key].dtype == torch.float32
        assert 0 <= batch[key].min() and batch[key].max() <= 1
    assert batch["K"].shape == (2, 4, 4) and batch["K_pyramid"].shape == (2, 4, 4, 4)
    torch.testing.assert_close(batch["inv_K"] @ batch["K"], torch.eye(4).expand(2, 4, 4), atol=1e-5, rtol=0)
    torch.testing.assert_close(batch["K_pyramid"][:, 2, :2], batch["K"][:, :2] / 4)
    torch.testing.assert_close(batch["K_pyramid"][:, 2, 2:], batch["K"][:, 2:])
    assert batch["index"].tolist() == [0, 1]


def test_crop_and_flip_keep_rays_right() -> None:
    """The pixel a point lands on after crop + flip, seen through the new K, is the mirrored original ray."""
    K = np.array([[100.0, 0, 40.3], [0, 101.0, 30.7], [0, 0, 1]])
    x1, y1, w = 7, 5, 50
    u, v = 23.0, 17.0
    new = crop_flip_intrinsics(K, x1, y1, w, flip=True)
    u2, v2 = w - 1 - (u - x1), v - y1  # where that pixel sits in the cropped, flipped image
    ray = np.linalg.inv(K) @ [u, v, 1]
    ray2 = np.linalg.inv(new) @ [u2, v2, 1]
    np.testing.assert_allclose(ray2, ray * [-1, 1, 1])


def test_crop_flip_true_warp_still_holds(records) -> None:
    """Crop + flip applied to images, depth and K: the true ego-motion (mirrored, x -> -x, when flipped) still warps
    t+1 onto t far better than no warp, and better than the motion of the other flip state."""
    F = np.diag([-1.0, 1, 1, 1])
    flips, ratios = 0, []
    for i, rec in enumerate(records[:6]):
        seq = SequenceDataset(records, crop=(64, 128), flip=True, color_aug_p=0.0, seed=1)[i]
        depth = DepthEvalDataset(records, crop=(64, 128), flip=True, seed=1)[i]["depth_gt"][0].numpy()
        plain = SequenceDataset(records, crop=(64, 128), flip=False, color_aug_p=0.0, seed=1)[i]
        is_flipped = not torch.equal(plain["image"], seq["image"])
        flips += is_flipped
        K = seq["K"][:3, :3].double().numpy()
        poses = cs.load_pose(rec.pose)
        T = np.linalg.inv(poses[1]) @ poses[0]
        T = F @ T @ F if is_flipped else T
        image, nxt = (seq[k].permute(1, 2, 0).numpy() * 255 for k in ("image", "next"))
        warp, identity, valid = warp_errors(image, nxt, depth, K, T)
        assert valid.mean() > 0.4
        assert warp < 0.8 * identity, (i, is_flipped, warp, identity)
        wrong, _, _ = warp_errors(image, nxt, depth, K, F @ T @ F)
        assert wrong > warp
        ratios.append(warp / identity)
    assert 0 < flips < 6
    assert np.mean(ratios) < 0.5, ratios


def test_colour_jitter_is_shared_and_only_on_aug_copies(records) -> None:
    img = torch.rand(3, 8, 8)
    gen = torch.Generator().manual_seed(5)
    a, b = color_jitter([img, img.clone()], gen)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, img)
    ds = SequenceDataset(records, size=(48, 96), color_aug_p=1.0, flip=False, seed=3)
    item = ds[0]
    raw = torch.from_numpy(cs.load_image(records[0].image, (48, 96))).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(item["image"], raw)  # the loss target stays untouched
    assert not torch.allclose(item["image_aug"], item["image"])


def test_hue_shift_of_a_full_turn_is_identity() -> None:
    from models.data.datasets import _shift_hue

    img = torch.rand(3, 5, 5)
    torch.testing.assert_close(_shift_hue(img, 1.0), img, atol=1e-5, rtol=0)
    red = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1)
    torch.testing.assert_close(_shift_hue(red, 1 / 3), torch.tensor([0.0, 1.0, 0.0]).view(3, 1, 1))


def test_seeded_datasets_are_deterministic(records) -> None:
    def make() -> SequenceDataset:
        return SequenceDataset(records, size=(48, 96), crop=(32, 48), seed=7)

    a, b = make(), make()
    for i in range(3):
        ia, ib = a[i], b[i]
        for key in ("image", "image_aug", "K"):
            assert torch.equal(ia[key], ib[key])
    # a second pass over the same dataset (the next epoch) draws new crops, without set_epoch
    again = [a[i]["K"] for i in range(len(records))]
    first = [make()[i]["K"] for i in range(len(records))]
    assert any(not torch.equal(x, y) for x, y in zip(again, first, strict=True))
    c = make()
    c.set_epoch(1)
    assert any(not torch.equal(c[i]["K"], first[i]) for i in range(len(records)))


def test_seeded_dataset_is_independent_of_worker_count(records) -> None:
    def batches(workers: int) -> list[torch.Tensor]:
        ds = SequenceDataset(records, size=(48, 96), crop=(32, 48), seed=7)
        loader = DataLoader(ds, batch_size=2, num_workers=workers, generator=torch.Generator().manual_seed(0))
        return [b["K"] for _ in range(2) for b in loader]  # two epochs

    one, two = batches(1), batches(2)
    assert all(torch.equal(x, y) for x, y in zip(one, two, strict=True))
    half = len(one) // 2
    assert any(not torch.equal(x, y) for x, y in zip(one[:half], one[half:], strict=True))  # epochs differ


def test_labeled_dataset_flips_labels_with_images(records) -> None:
    plain = LabeledDataset(records, size=(48, 96))
    flipped = LabeledDataset(records, size=(48, 96), flip=True, seed=2)
    n_flipped = 0
    for i in range(len(records)):
        p, f = plain[i], flipped[i]
        assert f["label"].dtype == torch.int64 and f["label"].shape == (48, 96)
        if torch.equal(p["image"], f["image"]):
            assert torch.equal(p["label"], f["label"])
        else:
            n_flipped += 1
            assert torch.equal(p["image"].flip(-1), f["image"]) and torch.equal(p["label"].flip(-1), f["label"])
    assert 0 < n_flipped < len(records)
    assert set(torch.unique(plain[0]["label"]).tolist()) <= set(range(19))


def test_unlabeled_dataset_options(records, tmp_path: Path) -> None:
    disp_path = tmp_path / "d.png"
    from PIL import Image

    Image.fromarray(np.arange(96 * 48, dtype=np.uint16).reshape(48, 96)).save(disp_path)
    ds = UnlabeledDataset(records[:2], size=(48, 96), is_labeled=[True, False], pseudo_disp=[disp_path, disp_path])
    a, b = ds[0], ds[1]
    assert a["is_labeled"].item() and not b["is_labeled"].item()
    assert (b["label"] == 255).all() and (a["label"] < 19).all()
    assert a["pseudo_disp"].shape == (1, 48, 96)
    assert a["pseudo_disp"].min() == 0 and a["pseudo_disp"].max() == 1
    assert set(UnlabeledDataset(records[:2])[0]) == {"image", "index"}
    with pytest.raises(ValueError, match="entries"):
        UnlabeledDataset(records[:2], is_labeled=[True])


def test_depth_eval_dataset(records) -> None:
    item = DepthEvalDataset(records, size=(48, 96))[0]
    depth = item["depth_gt"]
    assert depth.shape == (1, 48, 96) and (depth >= 0).all() and (depth > 0).float().mean() > 0.5
    full = cs.load_depth(records[0].depth)
    np.testing.assert_array_equal(depth[0].numpy(), full[1::2, 1::2])


def test_records_without_neighbours_or_labels_are_refused(records) -> None:
    import dataclasses

    bad = dataclasses.replace(records[0], prev=None, label=None, depth=None)
    with pytest.raises(ValueError, match="neighbour"):
        SequenceDataset([bad])
    with pytest.raises(ValueError, match="label"):
        LabeledDataset([bad])
    with pytest.raises(ValueError, match="depth"):
        DepthEvalDataset([bad])


def test_unlabeled_crops_are_cut_by_the_step_after_whole_image_disparity(records, tmp_path: Path) -> None:
    """With `crop`, unlabeled items stay whole and carry `crop_box`; the step's cut equals the labeled dataset's
    crop-then-flip of the same draw (neighbour frames and K included), and a disparity normalised on the whole image
    keeps its whole-image scale in the crop (the method infers and normalises on the whole image, then crops;
    method.md §3.1)."""
    from PIL import Image

    from models.seg_step import cut_crops

    disp_path = tmp_path / "d.png"
    Image.fromarray(np.tile(np.arange(96, dtype=np.uint16) * 100, (48, 1))).save(disp_path)  # a left-right ramp
    labeled = [r for r in records if r.label is not None][:4]
    opts = {"size": (48, 96), "crop": (48, 40), "seed": 7}
    unl = UnlabeledDataset(labeled, is_labeled=[True] * 4, pseudo_disp=[disp_path] * 4, neighbours=True, **opts)
    lab = LabeledDataset(labeled, neighbours=True, **opts)
    items = [unl[i] for i in range(4)]
    assert all(it["image"].shape == (3, 48, 96) and it["crop_box"].tolist()[2:] == [48, 40] for it in items)
    batch = {k: torch.stack([it[k] for it in items]) for k in items[0]}
    cut, _ = cut_crops(batch, None)
    assert "crop_box" not in cut and cut["image"].shape == (4, 3, 48, 40)
    for i in range(4):
        ref = lab[i]  # one fetch: a second one draws a new crop
        for key in ("image", "label", "prev", "next"):
            assert torch.equal(cut[key][i], ref[key]), key
        torch.testing.assert_close(cut["K"][i], ref["K"])  # the principal point moved with the window
        torch.testing.assert_close(cut["inv_K"][i], ref["inv_K"])
    spans = cut["pseudo_disp"].amax(dim=(1, 2, 3)) - cut["pseudo_disp"].amin(dim=(1, 2, 3))
    assert (spans < 0.5).all()  # 40 of 96 columns of a ramp normalised over all 96: about 0.42, not 1
