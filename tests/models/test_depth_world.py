"""Depth geometry and training against the synthetic world's true depth and ego-motion (method.md §2.2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from contracts.cityscapes import find_frames, load_depth, load_pose
from models.data.datasets import DepthEvalDataset, SequenceDataset
from models.data.synth import generate_world
from models.depth_eval import constant_depth, evaluate_depth, model_depth
from models.depth_model import DepthConfig
from models.depth_train import train_depth
from models.geometry import backproject, project, warp
from models.losses import photometric_error

SIZE = (64, 128)
TRAIN_ITERS = 300
# Margins (measured on this world with seed 0 and TRAIN_ITERS = 300: model abs_rel 0.375, δ<1.25 0.371;
# constant 0.689 / 0.203; untrained network 0.689 / 0.203): a geometry-free or broken loss stays at the constant.
ABS_REL_FACTOR = 0.75
A1_MARGIN = 0.10


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("depth_world")
    generate_world(out, sequences=80, size=SIZE, seed=7, val_fraction=0.2)  # 64 train / 16 val, ~5 s
    return out


def test_true_depth_and_pose_reconstruct_neighbours_far_better_than_identity(world: Path) -> None:
    records = find_frames(world, "train")[:12]
    ds = SequenceDataset(records, flip=False, color_aug_p=0.0)
    warped_err, identity_err = [], []
    for i, rec in enumerate(records):
        item = ds[i]
        depth = torch.from_numpy(load_depth(rec.depth)).float()[None, None]  # (1, 1, H, W) metres, 0 = sky
        cam_to_world = load_pose(rec.pose)
        valid = depth > 0
        depth = torch.where(valid, depth, torch.full_like(depth, 1e4))  # sky: a point at "infinity"
        for frame_id, key in ((-1, "prev"), (1, "next")):
            # camera t → camera s, the world's convention (models.data.synth.world)
            T = torch.from_numpy(np.linalg.inv(cam_to_world[frame_id]) @ cam_to_world[0]).float()[None]
            source, target = item[key][None], item["image"][None]
            synth = warp(source, depth, T, item["K"][None], item["inv_K"][None])
            # only pixels that stay inside the source view (border padding smears the rest)
            grid = project(backproject(depth, item["inv_K"][None]), item["K"][None], T, *SIZE)
            inside = (grid.abs() <= 1).all(-1)[:, None] & valid
            warped_err.append(photometric_error(synth, target)[inside].mean().item())
            identity_err.append(photometric_error(source, target)[inside].mean().item())
    warped, identity = float(np.mean(warped_err)), float(np.mean(identity_err))
    # measured: 0.31 with the true depth and pose; 0.62 with depth ×2, 0.88 with depth ×0.5, 1.13 inverted motion
    assert warped < 0.45 * identity, (warped, identity)
    # every single pair improves, not just the average
    assert all(w < i for w, i in zip(warped_err, identity_err, strict=True))


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a hang guard, not a speed check: it ran past 600 s at load ≥ 6
def test_short_training_beats_the_best_constant_depth(world: Path) -> None:
    """A few hundred CPU iterations from random init must learn real depth structure on held-out frames.

    Under median scaling every constant map scores the same (the "best constant depth"); an untrained network, or
    one trained with a loss that carries no geometry, lands on that baseline (see docs/depth.md for the figures).
    """
    torch.manual_seed(0)
    train = SequenceDataset(find_frames(world, "train"), flip=True, color_aug_p=0.5, seed=0)
    cfg = DepthConfig.small(
        finetune_iters=TRAIN_ITERS, num_ch_dec=(16, 32, 64, 128, 128), batch_size=4, checkpoint_every=10**9
    )
    result = train_depth(cfg, train, device="cpu")
    val = DataLoader(DepthEvalDataset(find_frames(world, "val")), batch_size=8)
    ours = evaluate_depth(model_depth(result.model, cfg.min_depth, cfg.max_depth), val, device="cpu")
    const = evaluate_depth(constant_depth, val, device="cpu")
    summary = (
        f"model abs_rel {ours['abs_rel']:.3f} a1 {ours['a1']:.3f}; "
        f"constant abs_rel {const['abs_rel']:.3f} a1 {const['a1']:.3f}"
    )
    print(summary)
    assert ours["abs_rel"] < ABS_REL_FACTOR * const["abs_rel"], summary
    assert ours["a1"] > const["a1"] + A1_MARGIN, summary
