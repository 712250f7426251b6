"""Self-supervised depth losses (method.md §2.2, §2.3) and the BerHu pseudo-depth loss (§4.2).

SSIM is written here because kornia's `ssim` uses a Gaussian window, while the method uses a 3×3 box window; the
edge-aware smoothness uses kornia's `inverse_depth_smoothness_loss`, which computes exactly monodepth2's term.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from kornia.losses import inverse_depth_smoothness_loss
from torch import Tensor

from models.geometry import disp_to_depth, warp

SSIM_C1 = 0.01**2
SSIM_C2 = 0.03**2
SSIM_WEIGHT = 0.85  # pe = 0.85·SSIM part + 0.15·L1 (method.md §2.2)
TIE_NOISE = 1e-5  # identity losses get N(0, 1)·1e-5 so ties with the warped losses break at random
SMOOTHNESS_WEIGHT = 1e-3  # divided by 2**s per scale
FEATURE_DISTANCE_WEIGHT = 1e-2  # "fd2" (method.md §2.3)


def ssim_loss(x: Tensor, y: Tensor) -> Tensor:
    """Per-pixel clamp((1 − SSIM(x, y)) / 2, 0, 1) with 3×3 box statistics over reflection padding (method.md §2.2).

    x, y: (B, C, H, W) → (B, C, H, W).
    """
    x = F.pad(x, (1, 1, 1, 1), mode="reflect")
    y = F.pad(y, (1, 1, 1, 1), mode="reflect")
    mu_x = F.avg_pool2d(x, 3, 1)
    mu_y = F.avg_pool2d(y, 3, 1)
    sigma_x = F.avg_pool2d(x * x, 3, 1) - mu_x**2
    sigma_y = F.avg_pool2d(y * y, 3, 1) - mu_y**2
    sigma_xy = F.avg_pool2d(x * y, 3, 1) - mu_x * mu_y
    num = (2 * mu_x * mu_y + SSIM_C1) * (2 * sigma_xy + SSIM_C2)
    den = (mu_x**2 + mu_y**2 + SSIM_C1) * (sigma_x + sigma_y + SSIM_C2)
    return torch.clamp((1 - num / den) / 2, 0, 1)


def photometric_error(pred: Tensor, target: Tensor) -> Tensor:
    """0.85·SSIM loss + 0.15·|pred − target|, both averaged over RGB: (B, 3, H, W) → (B, 1, H, W) (method.md §2.2)."""
    l1 = (pred - target).abs().mean(1, keepdim=True)
    ssim = ssim_loss(pred, target).mean(1, keepdim=True)
    return SSIM_WEIGHT * ssim + (1 - SSIM_WEIGHT) * l1


def min_reprojection_loss(
    warped: Sequence[Tensor],
    sources: Sequence[Tensor],
    target: Tensor,
    automask: bool = True,
    identity: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Per-pixel minimum reprojection with auto-masking (method.md §2.2).

    warped: source frames synthesised into the target view; sources: the same frames unwarped; target: (B, 3, H, W).
    The identity errors pe(source, target) (+ tie noise) join the minimum, so pixels where an unwarped source
    already matches (a static camera, objects moving with it) are effectively masked out. `identity` may pass
    those errors precomputed (B, n, H, W) (they do not depend on the scale); the noise is added here.
    Returns (mean of the per-pixel minimum, mask (B, 1, H, W) = 1 where a warped frame won).
    """
    reproj = torch.cat([photometric_error(w, target) for w in warped], dim=1)  # (B, n, H, W)
    if automask:
        if identity is None:
            identity = torch.cat([photometric_error(s, target) for s in sources], dim=1)  # (B, n, H, W)
        identity = identity + torch.randn_like(identity) * TIE_NOISE
        combined = torch.cat([identity, reproj], dim=1)  # (B, 2n, H, W): identity first
    else:
        combined = reproj
    best, idx = combined.min(dim=1, keepdim=True)
    n_identity = len(sources) if automask else 0
    return best.mean(), (idx >= n_identity).to(target.dtype)


def smoothness_loss(disp: Tensor, image: Tensor) -> Tensor:
    """Edge-aware smoothness of the mean-normalised disparity d / mean(d) (method.md §2.2); `image` must be at the
    disparity's resolution. The caller applies the 1e-3 / 2**s weight."""
    norm_disp = disp / (disp.mean(dim=(2, 3), keepdim=True) + 1e-7)
    return inverse_depth_smoothness_loss(norm_disp, image.to(norm_disp.dtype))


def feature_distance_loss(feat: Tensor, reference: Tensor, weight: float = FEATURE_DISTANCE_WEIGHT) -> Tensor:
    """λ·‖feat − reference‖₂: the plain L2 norm over the whole batch tensor, not a mean (method.md §2.3, quirk 6)."""
    return weight * torch.linalg.vector_norm(feat - reference.detach())


def berhu_loss(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Reverse Huber (method.md §4.2): a = |target − pred|·mask, c = 0.2·max(a); a if a ≤ c else (a² + c²)/(2c);
    mean over ALL pixels, masked ones included as 0."""
    a = (target - pred).abs() * mask
    c = 0.2 * a.max().detach()
    if c <= 0:  # perfect prediction or empty mask: a is all zero
        return a.mean()
    return torch.where(a <= c, a, (a * a + c * c) / (2 * c)).mean()


def sde_loss(
    disps: dict[int, Tensor],
    poses: dict[int, Tensor],
    target: Tensor,
    sources: dict[int, Tensor],
    K: Tensor,
    inv_K: Tensor,
    min_depth: float = 0.1,
    max_depth: float = 100.0,
    smoothness: float = SMOOTHNESS_WEIGHT,
    automask: bool = True,
) -> tuple[Tensor, dict[str, Tensor]]:
    """The self-supervised depth loss of one batch (method.md §2.2).

    For each scale s: upsample disp_s (bilinear, align_corners=False) to the target's H×W, convert to depth, warp
    every source frame at full resolution, take the per-pixel minimum with auto-masking; add the edge-aware
    smoothness of disp_s at its native size times smoothness / 2**s. Total = mean over scales.

    Args:
        disps: {s: (B, 1, H/2^s, W/2^s)} sigmoid disparities of the target frame.
        poses: {frame_id: (B, 4, 4)} target → source motion per source frame id (−1, +1).
        target: (B, 3, H, W) unaugmented frame t; sources: {frame_id: (B, 3, H, W)} unaugmented source frames.
        K, inv_K: (B, 4, 4) intrinsics of the H×W frames.
    Returns:
        (total loss, {"photometric", "smoothness", "automask"}) with detached parts for logging.
    """
    H, W = target.shape[-2:]
    ids = sorted(sources)
    total = target.new_zeros(())
    photo_sum = smooth_sum = target.new_zeros(())
    mask = target.new_ones(target.shape[0], 1, H, W)
    # identity errors do not depend on the scale: computed once (the tie noise is still drawn per scale)
    identity = torch.cat([photometric_error(sources[i], target) for i in ids], dim=1) if automask else None
    for s, disp in sorted(disps.items()):
        disp_full = F.interpolate(disp, size=(H, W), mode="bilinear", align_corners=False)
        _, depth = disp_to_depth(disp_full, min_depth, max_depth)  # (B, 1, H, W)
        warped = [warp(sources[i], depth, poses[i], K, inv_K) for i in ids]
        photo, mask_s = min_reprojection_loss(warped, [sources[i] for i in ids], target, automask, identity)
        target_s = target
        if disp.shape[-2:] != (H, W):  # the method's per-scale images are antialiased resizes (§2.1)
            target_s = F.interpolate(target, size=disp.shape[-2:], mode="bilinear", align_corners=False, antialias=True)
        smooth = smoothness_loss(disp, target_s) * smoothness / 2**s
        total = total + photo + smooth
        photo_sum, smooth_sum = photo_sum + photo.detach(), smooth_sum + smooth.detach()
        if s == 0:
            mask = mask_s
    n = len(disps)
    return total / n, {"photometric": photo_sum / n, "smoothness": smooth_sum / n, "automask": mask.mean()}
