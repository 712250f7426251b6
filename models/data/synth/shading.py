"""Colours and labels for the hits of `render.cast`: ground layout, box materials, sky, sun, haze, exposure.

All patterns live in world coordinates (ground) or box coordinates (objects), see `textures`; lighting is fixed per
sequence, so a static surface point has the same colour in every frame up to haze, which changes by well under 1%
per frame at the camera speeds used.
"""

from __future__ import annotations

import numpy as np

from models.data.synth import scene as S
from models.data.synth.textures import fbm, grid_mask, soft_inside, stripes, value_noise


def _mix(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    return a + (b - a) * w[..., None]


def ground_class(g: S.Ground, x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Train id of ground points from the street layout."""
    ax = np.abs(x)
    out = np.full(x.shape, g.beyond, dtype=np.uint8)
    out[ax < g.sidewalk_outer] = S.SIDEWALK
    out[(ax >= g.road_half) & (ax < g.road_half + g.grass_strip)] = S.TERRAIN
    road = ax < g.road_half
    for z0, z1 in g.cross:
        road |= (z >= z0) & (z <= z1)
    out[road] = S.ROAD
    return out


def _shade_ground(g: S.Ground, cls: np.ndarray, x: np.ndarray, z: np.ndarray, fp: np.ndarray, seed: int):
    col = np.empty(x.shape + (3,), dtype=np.float32)
    ax = np.abs(x)
    # road: asphalt grain, patches, lane paint
    r = cls == S.ROAD
    xr, zr, fr = x[r], z[r], fp[r]
    # fine grain fades quickly on the foreshortened road at low resolution; the 1–2 m blotches and 4–8 m wear
    # patches stay visible and give the photometric loss something to match along the flow direction
    grain = (0.3 * fbm(xr, zr, fr, seed, base=0.25, octaves=3) + 0.25 * fbm(xr, zr, fr, seed + 3, base=1.5, octaves=2)
             + 0.15 * fbm(xr, zr, fr, seed + 7, base=6.0, octaves=2))  # fmt: skip
    c = np.asarray(g.road_color, np.float32) * (1 + grain)[:, None]
    dashed = stripes(zr, 6.0, 3.0, fr)
    paint = soft_inside(0.08 - np.abs(xr), fr) * dashed  # centre line
    if g.road_half > 2 * g.lane_width:
        paint = np.maximum(paint, soft_inside(0.07 - np.abs(np.abs(xr) - g.lane_width), fr) * dashed)
    paint = np.maximum(paint, soft_inside(0.08 - np.abs(np.abs(xr) - (g.road_half - 0.25)), fr))  # edge lines
    for z0, z1 in g.cross:
        zebra = soft_inside(2.0 - np.abs(zr - (z0 - 2.5)), fr) * stripes(xr, 1.0, 0.5, fr)  # crosswalk
        stop = soft_inside(0.2 - np.abs(zr - (z0 - 5.0)), fr) * soft_inside(xr, fr)
        paint = np.maximum(paint, zebra * soft_inside(g.road_half - 0.5 - np.abs(xr), fr))
        paint = np.maximum(paint, stop * soft_inside(g.road_half - np.abs(xr), fr))
        paint *= 1 - soft_inside(np.minimum(zr - z0, z1 - zr), fr)
    if g.rails_x is not None:
        rails = soft_inside(0.05 - np.abs(np.abs(xr - g.rails_x) - 0.72), fr)
        c = _mix(c, np.array([0.25, 0.24, 0.24], np.float32), rails)
    col[r] = _mix(c, np.array([0.85, 0.85, 0.8], np.float32), paint * 0.9)
    # sidewalk: tiles with darker joints, light kerb stones along the road
    s = cls == S.SIDEWALK
    xs, zs, fs = x[s], z[s], fp[s]
    joints = 1 - grid_mask(xs, zs, 0.6, 0.6, 0.88, 0.88, fs)
    c = np.asarray(g.walk_color, np.float32) * (1 + 0.2 * fbm(xs, zs, fs, seed + 3, base=0.3, octaves=3))[:, None]
    c = c * (1 - 0.35 * joints)[:, None]
    kerb = soft_inside(0.3 - np.abs(np.abs(xs) - (g.road_half + g.grass_strip + 0.15)) + 0.15, fs)
    col[s] = _mix(c, np.array([0.72, 0.72, 0.7], np.float32), kerb)
    # terrain: grass and soil
    t = cls == S.TERRAIN
    xt, zt, ft = x[t], z[t], fp[t]
    n1 = fbm(xt, zt, ft, seed + 5, base=0.2, octaves=3)
    n2 = fbm(xt, zt, ft, seed + 9, base=3.0, octaves=2)
    soil = np.array([0.45, 0.38, 0.28], np.float32)
    c = _mix(np.asarray(g.terrain_color, np.float32) * (1 + 0.3 * n1)[:, None], soil, np.clip(n2 * 1.5, 0, 1))
    col[t] = c
    del ax
    return col


def _face_coords(local: np.ndarray, face: np.ndarray, half: np.ndarray):
    """(along, height) coordinates in metres on a box face: along from the face's left edge, height from the bottom."""
    axis = np.abs(face) - 1
    along = np.where(axis == 0, local[:, 2] + half[:, 2], local[:, 0] + half[:, 0])
    height = np.where(axis == 1, local[:, 2] + half[:, 2], half[:, 1] - local[:, 1])
    return along, height, axis


def _shade_boxes(bx: S.BoxArrays, ids: np.ndarray, local: np.ndarray, face: np.ndarray, fp: np.ndarray):
    """Albedo (n, 3) of box hits by material."""
    half, base, prm, seed = bx.half[ids], bx.color[ids], bx.param[ids], bx.obj[ids] * 7919
    a, h, axis = _face_coords(local, face, half)
    mat = bx.mat[ids]
    col = base.copy()
    vertical = axis != 1

    def noisy(m, amp, period, octaves=2):
        return base[m] * (1 + amp * fbm(a[m], h[m], fp[m], seed[m], period, octaves))[:, None]

    m = mat == S.FACADE
    if m.any():
        c = noisy(m, 0.2, 0.4, 3) * (1 + 0.1 * fbm(a[m], h[m], fp[m], seed[m] + 5, 3.0, 1))[:, None]
        floor_h, spacing, wf, hf = prm[m, 0], prm[m, 1], prm[m, 2], prm[m, 3]
        ground_floor = h[m] < floor_h
        win = grid_mask(a[m], h[m], spacing, floor_h, np.where(ground_floor, 0.85, wf), hf, fp[m]) * vertical[m]
        glass = (
            np.array([0.13, 0.16, 0.2], np.float32) * (1 + 0.6 * value_noise(a[m] * 0.7, h[m] * 0.3, seed[m]))[:, None]
        )
        c = _mix(c, glass, win)
        ledge = stripes(h[m], floor_h, 0.18, fp[m]) * vertical[m]
        c = c * (1 - 0.2 * ledge)[:, None]
        col[m] = np.where((axis[m] == 1)[:, None], np.float32(0.3), c)
    m = mat == S.CONCRETE
    if m.any():
        joints = stripes(a[m], 2.5, 0.05, fp[m])
        col[m] = noisy(m, 0.18, 0.4, 3) * (1 - 0.3 * joints)[:, None]
    m = mat == S.SLATS
    if m.any():
        slat = stripes(a[m], 0.16, 0.1, fp[m]) * vertical[m]
        col[m] = noisy(m, 0.15, 0.3) * (1 - 0.45 * slat)[:, None]
    m = mat == S.METAL
    if m.any():
        col[m] = noisy(m, 0.1, 0.25)
    m = mat == S.BARK
    if m.any():
        col[m] = base[m] * (1 + 0.35 * fbm(a[m] * 3, h[m], fp[m], seed[m], 0.3, 2))[:, None]
    m = mat == S.FOLIAGE
    if m.any():
        n = fbm(a[m], h[m] + local[m, 0] * (axis[m] == 1), fp[m], seed[m], 0.5, 3)
        col[m] = base[m] * np.clip(0.75 + 0.7 * n, 0.25, 1.6)[:, None]
    m = (mat == S.CLOTH) | (mat == S.SKIN)
    if m.any():
        col[m] = noisy(m, 0.12, 0.12)
    m = mat == S.PLATE
    if m.any():
        front = face[m] == -3
        hx, hy = half[m, 0], half[m, 1]
        inner = np.minimum(hx - 0.07 - np.abs(a[m] - hx), hy - 0.07 - np.abs(h[m] - hy))
        disc = 0.45 * np.minimum(hx, hy) - np.sqrt((a[m] - hx) ** 2 + (h[m] - hy) ** 2)
        c = _mix(np.full_like(base[m], 0.92), base[m], soft_inside(inner, fp[m]))
        c = _mix(c, np.full_like(c, 0.9), soft_inside(disc, fp[m]) * (prm[m, 3] > 0.5))
        col[m] = np.where(front[:, None], c, np.float32(0.5))
    m = mat == S.LAMP
    if m.any():
        front = face[m] == -3
        hx, hy = half[m, 0], half[m, 1]
        slot = np.clip((h[m] / (2 * hy) * 3).astype(np.int64), 0, 2)
        centre_h = (slot + 0.5) * (2 * hy) / 3
        lamp = soft_inside(0.7 * hx - np.sqrt((a[m] - hx) ** 2 + (h[m] - centre_h) ** 2), fp[m]) * front
        lit = slot == prm[m, 0].astype(np.int64)
        colours = np.array([[1.0, 0.15, 0.1], [1.0, 0.75, 0.1], [0.2, 1.0, 0.4]], np.float32)
        col[m] = _mix(base[m], colours[slot] * np.where(lit, 1.0, 0.25)[:, None], lamp)
    m = mat == S.PAINT
    if m.any():
        col[m] = _paint(base[m], prm[m], a[m], h[m], axis[m], face[m], half[m], fp[m], seed[m])
    m = mat == S.GLASS
    if m.any():
        glass = (
            np.array([0.12, 0.15, 0.19], np.float32) * (1 + 0.6 * value_noise(a[m] * 0.8, h[m] * 2, seed[m]))[:, None]
        )
        edge = 1 - soft_inside(np.minimum(a[m], 2 * np.where(axis[m] == 0, half[m, 2], half[m, 0]) - a[m]) - 0.12,
                               fp[m])  # fmt: skip
        col[m] = _mix(glass, base[m], np.maximum(edge, axis[m] == 1))
    return col


def _paint(base, prm, a, h, axis, face, half, fp, seed):
    """Vehicle body: paint, a window band with pillars, wheels on the sides, lights front and back."""
    length = 2 * np.where(axis == 0, half[:, 2], half[:, 0])
    total_h = 2 * half[:, 1]
    c = base * (1 + 0.08 * fbm(a, h, fp, seed, 0.5, 2))[:, None]
    band = soft_inside(np.minimum(h - prm[:, 0] * total_h, prm[:, 1] * total_h - h), fp) * (axis != 1)
    has_pillars = prm[:, 2] > 0
    pillar = stripes(a + 0.5, np.where(has_pillars, prm[:, 2], 1.0), 0.18, fp) * has_pillars
    glass = np.array([0.1, 0.12, 0.15], np.float32)
    c = _mix(c, glass, band * (1 - pillar))
    wheel_r = np.minimum(0.38, 0.5 * prm[:, 3] + 0.01)
    centre_a = np.where(a < length / 2, 1.1 * wheel_r + 0.3, length - 1.1 * wheel_r - 0.3)
    wheel = soft_inside(wheel_r - np.sqrt((a - centre_a) ** 2 + (h - wheel_r) ** 2), fp) * (axis == 0)
    c = _mix(c, np.full_like(c, 0.05), wheel)
    ends = soft_inside(np.minimum(np.minimum(h - 0.55, 0.8 - h), 0.35 - np.minimum(a, length - a)), fp) * (axis == 2)
    light = np.where((face == 3)[:, None], np.array([0.95, 0.95, 0.85], np.float32), np.array([0.8, 0.1, 0.1]))
    return _mix(c, light.astype(np.float32), ends)


def sun_shadow(scene: S.Scene, p: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Fraction (n,) of sunlight blocked at world points p (n, 3) by the street-side buildings.

    The ray toward the sun is followed to the front plane of the building row on the side it heads to; it is
    blocked when it meets that plane within a building's z-span and below its roof. Soft edges: a penumbra
    growing with distance (the sun's ~0.5° disc) and at least 1.5 pixels against aliasing.
    """
    L = scene.lighting.sun_dir
    f = scene.facades
    blocked = np.zeros(len(p), dtype=np.float32)
    if len(f) == 0 or abs(L[0]) < 1e-3:
        return blocked
    side = np.sign(L[0])
    f = f[f[:, 0] == side]
    px, height, pz = p[:, 0] * side, -p[:, 1], p[:, 2]  # side-relative x, height above ground
    for x_front in np.unique(f[:, 1]):  # one building row per distinct front line (usually one per side)
        row = f[f[:, 1] == x_front]
        row = row[np.argsort(row[:, 2])]
        t = (x_front - px) / abs(L[0])  # ray length to the row's front plane
        z_at, h_at = pz + t * L[2], height + t * -L[1]
        k = np.clip(np.searchsorted(row[:, 2], z_at, side="right") - 1, 0, len(row) - 1)  # building at z_at
        soft = np.maximum(fp * 1.5, 0.01 * np.abs(t) + 0.02)
        inside = soft_inside(np.minimum(z_at - row[k, 2], row[k, 3] - z_at), soft)
        blocked = np.maximum(blocked, soft_inside(row[k, 4] - h_at, soft) * inside * (t > 0.05))
    return blocked


def _sky(L: S.Lighting, dn: np.ndarray) -> np.ndarray:
    elev = np.clip(-dn[:, 1], 0, 1)
    c = _mix(L.sky_horizon[None, :], L.sky_zenith[None, :], np.clip(elev * 3, 0, 1)).astype(np.float32)
    cx, cz = dn[:, 0] / (elev + 0.08), dn[:, 2] / (elev + 0.08)
    cloud = np.clip(fbm(cx * 2, cz * 2, np.zeros_like(cx) + 1e-3, 4242, 1.0, 3) * 1.6 + L.clouds * 1.2 - 0.6, 0, 1)
    return _mix(c, np.array([0.93, 0.93, 0.95], np.float32), cloud * 0.85)


def shade(scene: S.Scene, hits, d: np.ndarray, o: np.ndarray, fx: float) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 (H, W, 3) and train ids (H, W) for the hits of one frame."""
    H, W = hits.depth.shape
    L, g, bx = scene.lighting, scene.ground, scene.boxes
    depth, box = hits.depth.reshape(-1), hits.box.reshape(-1)
    dflat = d.reshape(-1, 3)
    dist = np.linalg.norm(dflat, axis=1)
    dn = dflat / dist[:, None]
    sky = ~np.isfinite(depth)
    on_box = box >= 0
    on_ground = ~sky & ~on_box
    labels = np.full(H * W, S.SKY, dtype=np.uint8)
    albedo = np.zeros((H * W, 3), dtype=np.float32)
    normal = np.zeros((H * W, 3))
    normal[:, 1] = -1.0
    height = np.zeros(H * W, dtype=np.float32)

    gi = np.flatnonzero(on_ground)
    p = o + depth[gi, None] * dflat[gi]
    fp = depth[gi] * dist[gi] / fx / np.maximum(np.abs(dn[gi, 1]), 0.05)
    gcls = ground_class(g, p[:, 0], p[:, 2])
    labels[gi] = gcls
    albedo[gi] = _shade_ground(g, gcls, p[:, 0], p[:, 2], fp.astype(np.float32), scene.seed)

    bi = np.flatnonzero(on_box)
    ids = box[bi]
    local = hits.local.reshape(-1, 3)[bi]
    face = hits.face.reshape(-1)[bi]
    axis = np.abs(face) - 1
    n_local = np.zeros((len(bi), 3))
    n_local[np.arange(len(bi)), axis] = np.sign(face)
    c, s = np.cos(bx.yaw[ids]), np.sin(bx.yaw[ids])
    nx, ny, nz = n_local[:, 0], n_local[:, 1], n_local[:, 2]
    normal[bi] = np.stack([c * nx + s * nz, ny, -s * nx + c * nz], 1)  # (n, 3) yawed into the world
    cos = np.abs((normal[bi] * dn[bi]).sum(1))
    fpb = (depth[bi] * dist[bi] / fx / np.maximum(cos, 0.05)).astype(np.float32)
    labels[bi] = bx.cls[ids]
    albedo[bi] = _shade_boxes(bx, ids, local, face, fpb)
    height[bi] = -(bx.center[ids, 1] + local[:, 1])  # metres above the ground (y points down)

    sun = np.clip(normal @ L.sun_dir, 0, None)
    lit = np.flatnonzero((sun > 0) & ~sky)
    if len(lit):
        p_lit = o + depth[lit, None] * dflat[lit]
        fp_lit = depth[lit] * dist[lit] / fx
        sun[lit] *= 1 - sun_shadow(scene, p_lit, fp_lit)
    occlusion = 0.7 + 0.3 * np.clip(height / 1.5, 0, 1)  # soft darkening where walls meet the ground
    light = (L.ambient * np.where(on_box, occlusion, 1.0) + L.sun * sun).astype(np.float32)
    rgb = albedo * light[:, None]
    haze = (1 - np.exp(-np.where(sky, 0, depth * dist) / L.fog_distance)).astype(np.float32)
    rgb = _mix(rgb, L.sky_horizon.astype(np.float32)[None, :] * 0.95, haze)
    si = np.flatnonzero(sky)
    rgb[si] = _sky(L, dn[si])
    rgb = rgb * (L.exposure * L.tint).astype(np.float32)
    out = (np.clip(rgb, 0, 1) ** (1 / 1.15) * 255 + 0.5).astype(np.uint8)
    return out.reshape(H, W, 3), labels.reshape(H, W)
