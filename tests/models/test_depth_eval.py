"""Depth metrics and the constant-depth baseline."""

from __future__ import annotations

import pytest
import torch

from models.depth_eval import constant_depth, depth_errors, evaluate_depth


def test_depth_errors_known_values() -> None:
    gt = torch.tensor([1.0, 2.0, 4.0, 10.0])
    pred = torch.tensor([1.0, 2.4, 4.0, 5.0])
    e = depth_errors(gt, pred)
    assert e["abs_rel"] == pytest.approx((0 + 0.2 + 0 + 0.5) / 4)
    assert e["sq_rel"] == pytest.approx((0 + 0.08 + 0 + 2.5) / 4)
    assert e["rmse"] == pytest.approx(((0.16 + 25) / 4) ** 0.5)
    assert e["a1"] == pytest.approx(0.75)  # ratio 1.2 passes, ratio 2 fails every threshold (1.25³ ≈ 1.95)
    assert e["a2"] == pytest.approx(0.75)
    assert e["a3"] == pytest.approx(0.75)


def test_median_scaling_makes_scaled_truth_perfect_and_constant_is_worse() -> None:
    g = torch.Generator().manual_seed(0)
    depth = 2 + 30 * torch.rand(3, 1, 16, 24, generator=g)
    depth[:, :, :2] = 0  # "sky": no depth
    batches = [{"image": torch.rand(3, 3, 16, 24), "depth_gt": depth, "index": torch.arange(3)}]
    perfect = evaluate_depth(lambda img: 0.1 * depth, batches, device="cpu")
    assert perfect["abs_rel"] < 1e-6 and perfect["a1"] == 1.0 and perfect["median_ratio"] == pytest.approx(10.0)
    const = evaluate_depth(constant_depth, batches, device="cpu")
    assert const["abs_rel"] > 0.2 and const["n_images"] == 3
    other_const = evaluate_depth(lambda img: 7 * constant_depth(img), batches, device="cpu")
    assert other_const["abs_rel"] == pytest.approx(const["abs_rel"])  # every constant is the same after scaling
