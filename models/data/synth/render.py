"""Vectorised numpy ray casting of a `Scene`: RGB, train ids and true depth for one frame.

Each pixel's ray d = R · K⁻¹ (u, v, 1) is scaled so that its camera-z component is 1; the ray parameter t at a hit
is therefore the camera-frame depth z (the depth that `method.md` §2.2 back-projects). The ground plane is solved in
closed form; each box is tested with the slab method, but only on the screen rectangle its near-clipped corners
project to, so small and distant boxes cost little. Nearest hit wins (a z-buffer over boxes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.data.synth import shading
from models.data.synth.scene import SKY, Scene

NEAR = 0.05  # metres; hits closer than this are ignored
# The 12 edges of a box, as index pairs into its 8 corners (corner i has sign bits (x, y, z) = bits of i).
_CORNERS = np.array([[(i >> 2) & 1, (i >> 1) & 1, i & 1] for i in range(8)], dtype=np.float64) * 2 - 1
_EDGES = np.array([(i, i ^ b) for i in range(8) for b in (1, 2, 4) if i < i ^ b])


@dataclass(frozen=True)
class Frame:
    rgb: np.ndarray  # (H, W, 3) uint8
    train_ids: np.ndarray  # (H, W) uint8
    depth: np.ndarray  # (H, W) float32 metres, 0 where no surface (sky)


@dataclass
class Hits:
    """Per-pixel result of the visibility pass."""

    depth: np.ndarray  # (H, W) camera z of the nearest hit, inf for none
    box: np.ndarray  # (H, W) int32 box index, -1 = ground or sky
    local: np.ndarray  # (H, W, 3) hit point in the hit box's own frame
    face: np.ndarray  # (H, W) int8: ±(axis + 1), sign = outward normal along that local axis


def camera_rays(K: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Ray directions K⁻¹ (u, v, 1) in the camera frame for every pixel centre: (H, W, 3), z = 1."""
    H, W = size
    u, v = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    x = (u - K[0, 2]) / K[0, 0]
    y = (v - K[1, 2]) / K[1, 1]
    return np.stack([x, y, np.ones_like(x)], axis=-1)


def yaw_matrix(yaw: float) -> np.ndarray:
    """Rotation about +y (x right, y down, z forward): positive yaw turns +z toward +x."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _screen_rect(corners: np.ndarray, R: np.ndarray, o: np.ndarray, K: np.ndarray, size: tuple[int, int]):
    """Pixel rectangle (v0, v1, u0, u1) covering a box clipped to the near plane, or None when not in view."""
    pc = (corners - o) @ R  # (8, 3) camera coordinates
    z = pc[:, 2]
    if z.max() <= NEAR:
        return None
    a, b = pc[_EDGES[:, 0]], pc[_EDGES[:, 1]]  # (12, 3) edge endpoints
    crossing = (a[:, 2] - NEAR) * (b[:, 2] - NEAR) < 0
    s = (NEAR - a[crossing, 2]) / (b[crossing, 2] - a[crossing, 2])
    pts = np.concatenate([pc[z > NEAR], a[crossing] + s[:, None] * (b[crossing] - a[crossing])])
    u = K[0, 0] * pts[:, 0] / pts[:, 2] + K[0, 2]
    v = K[1, 1] * pts[:, 1] / pts[:, 2] + K[1, 2]
    H, W = size
    u0, u1 = max(int(np.floor(u.min())), 0), min(int(np.ceil(u.max())) + 1, W)
    v0, v1 = max(int(np.floor(v.min())), 0), min(int(np.ceil(v.max())) + 1, H)
    if u0 >= u1 or v0 >= v1:
        return None
    return v0, v1, u0, u1


def cast(scene: Scene, offset: int, K: np.ndarray, size: tuple[int, int]) -> tuple[Hits, np.ndarray, np.ndarray]:
    """Visibility pass: nearest surface per pixel. Returns (hits, world ray directions (H, W, 3), camera centre)."""
    T = scene.cam_to_world[offset]
    R, o = T[:3, :3], T[:3, 3]
    d = camera_rays(K, size) @ R.T  # (H, W, 3) world directions, camera-z component 1
    H, W = size
    with np.errstate(divide="ignore"):
        depth = np.where(d[..., 1] > 1e-9, -o[1] / d[..., 1], np.inf)  # ground y = 0; camera has o_y < 0
    box = np.full((H, W), -1, dtype=np.int32)
    local = np.zeros((H, W, 3))
    face = np.zeros((H, W), dtype=np.int8)
    bx = scene.boxes
    centers = bx.center + bx.vel * offset
    for i in range(len(bx)):
        Rb = yaw_matrix(bx.yaw[i])
        corners = centers[i] + (_CORNERS * bx.half[i]) @ Rb.T
        rect = _screen_rect(corners, R, o, K, size)
        if rect is None:
            continue
        v0, v1, u0, u1 = rect
        dl = d[v0:v1, u0:u1] @ Rb  # (h, w, 3) ray directions in the box frame (Rbᵀ d)
        ol = Rb.T @ (o - centers[i])
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / dl
            t1 = (-bx.half[i] - ol) * inv
            t2 = (bx.half[i] - ol) * inv
        tmin = np.minimum(t1, t2)
        t_near = tmin.max(axis=-1)
        t_far = np.maximum(t1, t2).min(axis=-1)
        dsub = depth[v0:v1, u0:u1]
        hit = (t_near <= t_far) & (t_near > NEAR) & (t_near < dsub)
        if not hit.any():
            continue
        th = t_near[hit]
        dsub[hit] = th
        box[v0:v1, u0:u1][hit] = i
        dh = dl[hit]
        local[v0:v1, u0:u1][hit] = ol + th[:, None] * dh
        axis = tmin[hit].argmax(axis=-1)
        outward = -np.sign(dh[np.arange(len(axis)), axis])  # the entry face looks back along the ray
        face[v0:v1, u0:u1][hit] = ((axis + 1) * outward).astype(np.int8)
    return Hits(depth=depth, box=box, local=local, face=face), d, o


def render(scene: Scene, offset: int, K: np.ndarray, size: tuple[int, int], max_depth: float = 250.0) -> Frame:
    """Render frame `offset` (−1, 0, 1, ...) of `scene` at `size = (H, W)` with intrinsics K (pixels of that size).

    Surfaces beyond `max_depth` keep their colour and label but get depth 0 (outside the truth range).
    """
    hits, d, o = cast(scene, offset, K, size)
    rgb, train_ids = shading.shade(scene, hits, d, o, float(K[0, 0]))
    depth = np.where(np.isfinite(hits.depth) & (hits.depth <= max_depth), hits.depth, 0.0).astype(np.float32)
    depth[train_ids == SKY] = 0.0
    return Frame(rgb=rgb, train_ids=train_ids, depth=depth)
