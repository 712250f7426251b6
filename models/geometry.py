"""Camera geometry for view synthesis as small pure functions (method.md §1.3, §2.2).

Conventions: K and inv_K are (B, 4, 4) in pixels of the image being warped; a pose matrix T (B, 4, 4) maps points
from the target camera t into the source camera s (X_s = T · X_t); pixel (u, v) = (column, row), 0-based.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from kornia.geometry.conversions import axis_angle_to_rotation_matrix
from torch import Tensor


def disp_to_depth(disp: Tensor, min_depth: float = 0.1, max_depth: float = 100.0) -> tuple[Tensor, Tensor]:
    """Sigmoid disparity → (scaled disparity, depth): depth = 1 / (1/max + (1/min − 1/max)·disp) (method.md §2.2,
    monodepth2's "additional considerations")."""
    min_disp, max_disp = 1.0 / max_depth, 1.0 / min_depth
    scaled = min_disp + (max_disp - min_disp) * disp
    return scaled, 1.0 / scaled


def pose_vec_to_matrix(axisangle: Tensor, translation: Tensor, invert: bool = False) -> Tensor:
    """(B, 3) axis-angle and (B, 3) translation → (B, 4, 4) T = [R | t] (method.md §1.3).

    With `invert`, returns the inverse motion composed as Rᵀ·(−t) translation, i.e. [Rᵀ | −Rᵀt]: used for the −1
    frame, whose pose is predicted on the pair (I₋₁, I₀) in temporal order.
    """
    R = axis_angle_to_rotation_matrix(axisangle)  # (B, 3, 3) Rodrigues
    t = translation
    if invert:
        R = R.transpose(1, 2)
        t = -torch.einsum("bij,bj->bi", R, t)  # −Rᵀt
    T = torch.zeros(axisangle.shape[0], 4, 4, dtype=R.dtype, device=R.device)
    T[:, :3, :3] = R
    T[:, :3, 3] = t
    T[:, 3, 3] = 1.0
    return T


def pixel_grid(height: int, width: int, device: torch.device | str, dtype: torch.dtype = torch.float32) -> Tensor:
    """Homogeneous pixel coordinates (3, H·W): rows u, v, 1 in row-major order."""
    v, u = torch.meshgrid(
        torch.arange(height, device=device, dtype=dtype), torch.arange(width, device=device, dtype=dtype), indexing="ij"
    )
    return torch.stack([u.reshape(-1), v.reshape(-1), torch.ones(height * width, device=device, dtype=dtype)])


def backproject(depth: Tensor, inv_K: Tensor) -> Tensor:
    """Depth (B, 1, H, W) → homogeneous camera points (B, 4, H·W): X = depth · K⁻¹ [u, v, 1]ᵀ."""
    B, _, H, W = depth.shape
    pix = pixel_grid(H, W, depth.device, depth.dtype)  # (3, HW)
    rays = inv_K[:, :3, :3].to(depth.dtype) @ pix  # (B, 3, HW)
    points = rays * depth.reshape(B, 1, H * W)
    return torch.cat([points, torch.ones_like(points[:, :1])], dim=1)  # (B, 4, HW)


def project(points: Tensor, K: Tensor, T: Tensor, height: int, width: int, eps: float = 1e-7) -> Tensor:
    """Camera points (B, 4, H·W) of the target → sampling grid (B, H, W, 2) in the source, normalised to [−1, 1] with
    (W − 1), (H − 1) as `grid_sample(..., align_corners=True)` expects (method.md §2.2)."""
    P = (K @ T)[:, :3, :].to(points.dtype)  # (B, 3, 4)
    cam = P @ points  # (B, 3, HW)
    pix = cam[:, :2] / (cam[:, 2:3] + eps)  # (B, 2, HW)
    pix = pix.reshape(-1, 2, height, width).permute(0, 2, 3, 1)  # (B, H, W, 2)
    scale = torch.tensor([width - 1, height - 1], dtype=pix.dtype, device=pix.device)
    return (pix / scale - 0.5) * 2.0


def warp(source: Tensor, depth: Tensor, T: Tensor, K: Tensor, inv_K: Tensor) -> Tensor:
    """Synthesise the target view from `source` (B, C, H, W) with the target's depth (B, 1, H, W) and the motion T
    (target → source): bilinear sampling, border padding, align_corners=True (method.md §2.2)."""
    H, W = depth.shape[-2:]
    grid = project(backproject(depth, inv_K), K, T, H, W)
    return F.grid_sample(source, grid.to(source.dtype), mode="bilinear", padding_mode="border", align_corners=True)
