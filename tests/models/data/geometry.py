"""Test helpers: warp a frame with true depth and ego-motion (numpy, bilinear), as the depth loss would."""

from __future__ import annotations

import numpy as np


def project(depth: np.ndarray, K: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel coordinates (u, v) in the target camera of every pixel of the source, and a validity mask."""
    H, W = depth.shape
    u, v = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    rays = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(K).T  # (H, W, 3)
    P = rays * depth[..., None]
    Q = P @ T[:3, :3].T + T[:3, 3]
    z = Q[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        pu = K[0, 0] * Q[..., 0] / z + K[0, 2]
        pv = K[1, 1] * Q[..., 1] / z + K[1, 2]
    valid = (depth > 0) & (z > 0.1) & (pu >= 0) & (pu <= W - 1) & (pv >= 0) & (pv <= H - 1)
    return pu, pv, valid


def bilinear(img: np.ndarray, pu: np.ndarray, pv: np.ndarray) -> np.ndarray:
    """Sample img (H, W, C) at float coordinates (clamped to the border)."""
    H, W = img.shape[:2]
    pu, pv = np.clip(pu, 0, W - 1), np.clip(pv, 0, H - 1)
    u0, v0 = np.minimum(np.floor(pu).astype(int), W - 2), np.minimum(np.floor(pv).astype(int), H - 2)
    a, b = (pu - u0)[..., None], (pv - v0)[..., None]
    f = img.astype(np.float64)
    top = f[v0, u0] * (1 - a) + f[v0, u0 + 1] * a
    bot = f[v0 + 1, u0] * (1 - a) + f[v0 + 1, u0 + 1] * a
    return top * (1 - b) + bot * b


def warp_errors(target: np.ndarray, source: np.ndarray, depth: np.ndarray, K: np.ndarray, T: np.ndarray):
    """Mean |I_t − I_s(warp)| and mean |I_t − I_s| over the pixels the true warp keeps in view (images in [0, 255])."""
    pu, pv, valid = project(depth, K, T)
    warped = bilinear(source, pu, pv)
    t = target.astype(np.float64)
    return np.abs(t - warped)[valid].mean(), np.abs(t - source.astype(np.float64))[valid].mean(), valid
