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


def _nonzero(x: np.ndarray) -> np.ndarray:
    return np.where(x == 0, 1e-12, x)


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


def _screen_rects(corners: np.ndarray, R: np.ndarray, o: np.ndarray, K: np.ndarray, size: tuple[int, int]):
    """Pixel rectangles covering each box clipped to the near plane, and each box's nearest camera z.

    corners: (N, 8, 3) world. Returns rects (N, 4) int as (v0, v1, u0, u1), a visibility mask (N,), z_min (N,).
    """
    pc = (corners - o) @ R  # (N, 8, 3) camera coordinates
    a, b = pc[:, _EDGES[:, 0]], pc[:, _EDGES[:, 1]]  # (N, 12, 3) edge endpoints
    za, zb = a[..., 2], b[..., 2]
    crossing = (za - NEAR) * (zb - NEAR) < 0
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(crossing, (NEAR - za) / (zb - za), 0.0)
    clipped = a + s[..., None] * (b - a)  # (N, 12, 3) where an edge crosses the near plane
    pts = np.concatenate([pc, clipped], axis=1)  # (N, 20, 3)
    keep = np.concatenate([pc[..., 2] > NEAR, crossing], axis=1)  # (N, 20)
    z = np.where(keep, pts[..., 2], 1.0)
    u = K[0, 0] * pts[..., 0] / z + K[0, 2]
    v = K[1, 1] * pts[..., 1] / z + K[1, 2]
    H, W = size
    big = 1e9
    u0 = np.floor(np.where(keep, u, big).min(1)).clip(0, W)
    u1 = np.ceil(np.where(keep, u, -big).max(1)).clip(-1, W - 1) + 1
    v0 = np.floor(np.where(keep, v, big).min(1)).clip(0, H)
    v1 = np.ceil(np.where(keep, v, -big).max(1)).clip(-1, H - 1) + 1
    visible = keep.any(1) & (u0 < u1) & (v0 < v1)
    z_min = np.where(keep, pts[..., 2], np.inf).min(1)
    return np.stack([v0, v1, u0, u1], 1).astype(np.int64), visible, z_min


def cast(scene: Scene, offset: int, K: np.ndarray, size: tuple[int, int]) -> tuple[Hits, np.ndarray, np.ndarray]:
    """Visibility pass: nearest surface per pixel. Returns (hits, world ray directions (H, W, 3), camera centre).

    Boxes go front to back (by their nearest corner) and a box is skipped when everything already hit in its
    rectangle is nearer than its nearest corner, which culls most of what stands behind the front facades.
    """
    T = scene.cam_to_world[offset]
    R, o = T[:3, :3], T[:3, 3]
    d = camera_rays(K, size) @ R.T  # (H, W, 3) world directions, camera-z component 1
    dx, dy, dz = (np.ascontiguousarray(d[..., k]) for k in range(3))
    H, W = size
    with np.errstate(divide="ignore"):
        depth = np.where(dy > 1e-9, -o[1] / dy, np.inf)  # ground y = 0; camera has o_y < 0
        inv_d = [1.0 / _nonzero(x) for x in (dx, dy, dz)]  # finite: inf·0 would give NaN slabs
    abs_inv_d = [np.abs(x) for x in inv_d]
    box = np.full((H, W), -1, dtype=np.int32)
    local = np.zeros((H, W, 3))
    face = np.zeros((H, W), dtype=np.int8)
    bx = scene.boxes
    if len(bx) == 0:
        return Hits(depth=depth, box=box, local=local, face=face), d, o
    centers = bx.center + bx.vel * offset
    cos, sin = np.cos(bx.yaw), np.sin(bx.yaw)
    # (N, 8, 3) corners: rotate the half-size corner offsets by yaw, then translate
    off = _CORNERS[None] * bx.half[:, None]
    corners = np.stack([cos[:, None] * off[..., 0] + sin[:, None] * off[..., 2], off[..., 1],
                        -sin[:, None] * off[..., 0] + cos[:, None] * off[..., 2]], -1) + centers[:, None]  # fmt: skip
    rects, visible, z_min = _screen_rects(corners, R, o, K, size)
    for i in np.flatnonzero(visible)[np.argsort(z_min[visible], kind="stable")]:
        v0, v1, u0, u1 = rects[i]
        dsub = depth[v0:v1, u0:u1]
        if dsub.max() < z_min[i]:
            continue  # fully hidden behind nearer surfaces
        c, s = cos[i], sin[i]
        if abs(s) <= 1e-9:
            c, s = (1.0 if c > 0 else -1.0), 0.0  # exactly axis-aligned, matching the reciprocals below
        ol = np.array([c * (o[0] - centers[i, 0]) - s * (o[2] - centers[i, 2]), o[1] - centers[i, 1],
                       s * (o[0] - centers[i, 0]) + c * (o[2] - centers[i, 2])])  # fmt: skip
        win = (slice(v0, v1), slice(u0, u1))
        if abs(s) > 1e-9:  # turned box: ray directions in its frame (Rbᵀ d), per component
            sx, sy, sz = dx[win], dy[win], dz[win]
            dl = (c * sx - s * sz, sy, s * sx + c * sz)
            inv = [1.0 / _nonzero(x) for x in dl]
            abs_inv = [np.abs(x) for x in inv]
        else:  # yaw 0 or π: reuse the per-frame reciprocals (x and z mirrored for π)
            sign = 1.0 if c > 0 else -1.0
            dl = (sign * dx[win], dy[win], sign * dz[win]) if sign < 0 else (dx[win], dy[win], dz[win])
            inv = [sign * inv_d[0][win], inv_d[1][win], sign * inv_d[2][win]] if sign < 0 else [x[win] for x in inv_d]
            abs_inv = [x[win] for x in abs_inv_d]
        # slab k spans t = (±half − o)·inv, i.e. centre −o·inv and radius half·|inv|
        t_near = t_far = None
        tmins = []
        with np.errstate(invalid="ignore"):
            for k in range(3):
                mid, rad = inv[k] * -ol[k], abs_inv[k] * bx.half[i, k]
                lo, hi = mid - rad, mid + rad
                tmins.append(lo)
                t_near = lo if t_near is None else np.maximum(t_near, lo)
                t_far = hi if t_far is None else np.minimum(t_far, hi)
        hit = (t_near <= t_far) & (t_near > NEAR) & (t_near < dsub)
        if not hit.any():
            continue
        th = t_near[hit]
        dsub[hit] = th
        box[v0:v1, u0:u1][hit] = i
        dh = np.stack([dl[0][hit], dl[1][hit], dl[2][hit]], 1)  # (n, 3)
        local[v0:v1, u0:u1][hit] = ol + th[:, None] * dh
        axis = np.where(tmins[0][hit] == th, 0, np.where(tmins[1][hit] == th, 1, 2))
        outward = -np.sign(dh[np.arange(len(axis)), axis])  # the entry face looks back along the ray
        face[v0:v1, u0:u1][hit] = ((axis + 1) * outward).astype(np.int8)
    return Hits(depth=depth, box=box, local=local, face=face), d, o


def render(
    scene: Scene, offset: int, K: np.ndarray, size: tuple[int, int], max_depth: float = 250.0, antialias: int = 1
) -> Frame:
    """Render frame `offset` (−1, 0, 1, ...) of `scene` at `size = (H, W)` with intrinsics K (pixels of that size).

    Surfaces beyond `max_depth` keep their colour and label but get depth 0 (outside the truth range).
    `antialias` = f (odd) renders f×f samples per pixel and averages the colours (smooth silhouettes, f² the
    cost); labels and depth are the centre sample, which sits exactly on the pixel centre.
    """
    if antialias > 1:
        if antialias % 2 == 0:
            raise ValueError(f"antialias must be odd (a sample on the pixel centre), got {antialias}")
        f, (H, W) = antialias, size
        Kf = K.copy()
        Kf[:2, :2] *= f
        Kf[:2, 2] = (K[:2, 2] + 0.5) * f - 0.5  # pixel-centre convention, as `cityscapes.scale_intrinsics`
        fine = render(scene, offset, Kf, (H * f, W * f), max_depth)
        rgb = fine.rgb.reshape(H, f, W, f, 3).mean(axis=(1, 3))  # (H, W, 3) box filter over the samples
        c = f // 2
        return Frame(rgb=(rgb + 0.5).astype(np.uint8), train_ids=fine.train_ids[c::f, c::f].copy(),
                     depth=fine.depth[c::f, c::f].copy())  # fmt: skip
    hits, d, o = cast(scene, offset, K, size)
    rgb, train_ids = shading.shade(scene, hits, d, o, float(K[0, 0]))
    depth = np.where(np.isfinite(hits.depth) & (hits.depth <= max_depth), hits.depth, 0.0).astype(np.float32)
    depth[train_ids == SKY] = 0.0
    return Frame(rgb=rgb, train_ids=train_ids, depth=depth)
