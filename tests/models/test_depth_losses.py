"""Geometry helpers and self-supervised depth losses on tiny random tensors (method.md §1.3, §2.2-2.3, §4.2)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from models.geometry import backproject, disp_to_depth, pose_vec_to_matrix, project, warp
from models.losses import (
    berhu_loss,
    feature_distance_loss,
    min_reprojection_loss,
    photometric_error,
    sde_loss,
    smoothness_loss,
    ssim_loss,
)


def _intrinsics(b: int, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    K = torch.eye(4).repeat(b, 1, 1)
    K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2] = 0.6 * w, 0.6 * w, 0.5 * w, 0.5 * h
    return K, torch.linalg.inv(K)


def _smooth_image(b: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(b, 3, h // 4, w // 4, generator=g), size=(h, w), mode="bilinear")


def test_disp_to_depth_range() -> None:
    _, depth = disp_to_depth(torch.tensor([0.0, 1.0]), 0.1, 100.0)
    assert torch.allclose(depth, torch.tensor([100.0, 0.1]))


def test_pose_matrix_rotation_and_inverse() -> None:
    axisangle = torch.tensor([[0.0, 0.0, math.pi / 2], [0.1, -0.2, 0.05]])
    t = torch.tensor([[1.0, 2.0, 3.0], [0.3, 0.0, -0.1]])
    T = pose_vec_to_matrix(axisangle, t)
    # 90° about z maps x to y
    assert torch.allclose(T[0, :3, :3] @ torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 1, 0]), atol=1e-6)
    assert torch.allclose(T[0, :3, 3], t[0])
    T_inv = pose_vec_to_matrix(axisangle, t, invert=True)
    assert torch.allclose(T @ T_inv, torch.eye(4).expand(2, 4, 4), atol=1e-6)


def test_backproject_project_roundtrip_is_identity_grid() -> None:
    B, H, W = 2, 8, 12
    K, inv_K = _intrinsics(B, H, W)
    depth = torch.rand(B, 1, H, W) * 10 + 1
    grid = project(backproject(depth, inv_K), K, torch.eye(4).expand(B, 4, 4), H, W)
    xs = torch.linspace(-1, 1, W)
    ys = torch.linspace(-1, 1, H)
    assert torch.allclose(grid[0, 3, :, 0], xs, atol=1e-5)
    assert torch.allclose(grid[1, :, 5, 1], ys, atol=1e-5)
    img = torch.rand(B, 3, H, W)
    assert torch.allclose(warp(img, depth, torch.eye(4).expand(B, 4, 4), K, inv_K), img, atol=1e-5)


def test_warp_translation_shifts_by_focal_times_baseline_over_depth() -> None:
    B, H, W = 1, 16, 32
    K, inv_K = _intrinsics(B, H, W)
    depth = torch.full((B, 1, H, W), 4.0)
    T = torch.eye(4).unsqueeze(0)
    T[0, 0, 3] = 4.0 / K[0, 0, 0]  # camera moves so that points shift exactly 1 pixel left in the source
    img = torch.arange(W, dtype=torch.float32).expand(B, 3, H, W).contiguous()
    out = warp(img, depth, T, K, inv_K)
    assert torch.allclose(out[..., :-1], img[..., 1:], atol=1e-4)


def test_ssim_loss_matches_reference_formula() -> None:
    torch.manual_seed(0)
    x, y = torch.rand(2, 3, 10, 12), torch.rand(2, 3, 10, 12)
    out = ssim_loss(x, y)
    assert out.shape == (2, 3, 10, 12)
    # pixel (1, 1) has no padding in its window: compute SSIM by hand over the 3×3 neighbourhood
    wx, wy = x[0, 0, 0:3, 0:3], y[0, 0, 0:3, 0:3]
    mx, my = wx.mean(), wy.mean()
    vx, vy = (wx * wx).mean() - mx**2, (wy * wy).mean() - my**2
    cxy = (wx * wy).mean() - mx * my
    c1, c2 = 0.01**2, 0.03**2
    ssim = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    assert torch.isclose(out[0, 0, 1, 1], ((1 - ssim) / 2).clamp(0, 1), atol=1e-6)
    # reflection padding: corner (0, 0) sees rows/cols [1, 0, 1]
    idx = torch.tensor([1, 0, 1])
    wx, wy = x[0, 1][idx][:, idx], y[0, 1][idx][:, idx]
    mx, my = wx.mean(), wy.mean()
    vx, vy = (wx * wx).mean() - mx**2, (wy * wy).mean() - my**2
    cxy = (wx * wy).mean() - mx * my
    ssim = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    assert torch.isclose(out[0, 1, 0, 0], ((1 - ssim) / 2).clamp(0, 1), atol=1e-6)


def test_photometric_error_zero_for_identical_and_grows_with_misalignment() -> None:
    img = _smooth_image(2, 32, 48)
    pe0 = photometric_error(img, img)
    assert pe0.shape == (2, 1, 32, 48)
    assert pe0.abs().max() < 1e-6
    errors = [photometric_error(torch.roll(img, k, dims=3), img).mean().item() for k in (1, 2, 4)]
    assert 0 < errors[0] < errors[1] < errors[2]
    # 0.85·SSIM + 0.15·L1 exactly
    other = torch.rand_like(img)
    expected = 0.85 * ssim_loss(other, img).mean(1, True) + 0.15 * (other - img).abs().mean(1, True)
    assert torch.allclose(photometric_error(other, img), expected)


def test_automask_ignores_static_frames() -> None:
    torch.manual_seed(0)
    target = _smooth_image(1, 16, 16)
    static = target.clone()  # camera did not move: the unwarped source equals the target
    bad_warp = torch.rand_like(target)  # a broken warp that should have no effect
    loss, mask = min_reprojection_loss([bad_warp], [static], target, automask=True)
    assert loss < 1e-4 and mask.sum() == 0
    loss_nomask, _ = min_reprojection_loss([bad_warp], [static], target, automask=False)
    assert loss_nomask > 0.05
    # a moving source whose warp is right: the warped frame wins everywhere
    moved = torch.roll(target, 3, dims=3)
    loss, mask = min_reprojection_loss([target.clone()], [moved], target)
    assert mask.mean() > 0.9


def test_smoothness_is_scale_invariant_and_edge_aware() -> None:
    torch.manual_seed(0)
    disp = torch.rand(2, 1, 8, 8)
    flat_img = torch.zeros(2, 3, 8, 8)
    assert torch.isclose(smoothness_loss(disp, flat_img), smoothness_loss(10 * disp, flat_img))
    edgy_img = torch.rand(2, 3, 8, 8)
    assert smoothness_loss(disp, edgy_img) < smoothness_loss(disp, flat_img)
    assert smoothness_loss(torch.ones(2, 1, 8, 8), edgy_img) == 0


def test_feature_distance_is_unaveraged_l2() -> None:
    a, b = torch.zeros(2, 4, 3, 3), torch.ones(2, 4, 3, 3)
    assert torch.isclose(feature_distance_loss(a, b), torch.tensor(1e-2 * math.sqrt(72)))


def test_berhu_loss_values() -> None:
    pred = torch.zeros(1, 1, 1, 4)
    target = torch.tensor([[[[0.1, 0.2, 1.0, 0.0]]]])
    mask = torch.tensor([[[[1.0, 1.0, 1.0, 0.0]]]])
    c = 0.2  # 0.2·max(a) = 0.2
    expected = (0.1 + 0.2 + (1.0 + c * c) / (2 * c) + 0.0) / 4
    assert torch.isclose(berhu_loss(pred, target, mask), torch.tensor(expected))
    assert berhu_loss(target, target, mask) == 0


def test_sde_loss_prefers_true_depth_and_is_finite() -> None:
    B, H, W = 2, 32, 48
    K, inv_K = _intrinsics(B, H, W)
    target = _smooth_image(B, H, W, seed=1)
    true_depth = torch.full((B, 1, H, W), 5.0)
    T_next = torch.eye(4).repeat(B, 1, 1)
    T_next[:, 0, 3] = 0.3
    # the next frame seen from the moved camera: sample the target where the target's pixels land
    grid_back = project(backproject(true_depth, inv_K), K, torch.linalg.inv(T_next), H, W)
    nxt = F.grid_sample(target, grid_back, padding_mode="border", align_corners=True)

    def disp_for(depth: float) -> dict[int, torch.Tensor]:
        d = (1 / depth - 1 / 100) / (1 / 0.1 - 1 / 100)
        return {s: torch.full((B, 1, H // 2**s, W // 2**s), d, requires_grad=True) for s in range(4)}

    losses = {}
    for depth in (2.0, 5.0, 20.0):
        disps = disp_for(depth)
        total, parts = sde_loss(disps, {1: T_next}, target, {1: nxt}, K, inv_K, automask=False)
        total.backward()
        assert torch.isfinite(total) and disps[0].grad is not None
        losses[depth] = parts["photometric"].item()
    assert losses[5.0] < 0.5 * min(losses[2.0], losses[20.0])
