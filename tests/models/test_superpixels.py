"""Superpixels over colour and depth (models/superpixels.py): borders follow a depth edge where colour is flat,
follow a colour edge where depth is flat, ids are 0..K-1, every segment is one 4-connected piece, and the PNG
coding (id = R + 256·G) round-trips."""

from __future__ import annotations

from collections import deque

import numpy as np
import torch

from models.superpixels import ids_to_rgb, rgb_to_ids, superpixels

H, W = 64, 128


def _segments_cross(ids: np.ndarray, column: int) -> set[int]:
    return set(np.unique(ids[:, :column]).tolist()) & set(np.unique(ids[:, column:]).tolist())


def _components(ids: np.ndarray, value: int) -> int:
    """Number of 4-connected pieces of segment `value` (a plain BFS, independent of the code under test)."""
    todo = set(zip(*np.nonzero(ids == value), strict=True))
    pieces = 0
    while todo:
        pieces += 1
        queue = deque([todo.pop()])
        while queue:
            y, x = queue.popleft()
            for n in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if n in todo:
                    todo.remove(n)
                    queue.append(n)
    return pieces


def test_borders_follow_a_depth_edge_where_colour_is_flat() -> None:
    image = torch.full((3, H, W), 0.5)  # one grey everywhere: colour alone cannot place a border
    disparity = torch.zeros(H, W)
    disparity[:, 70:] = 1.0  # a near object from x = 70 on
    ids = superpixels(image, disparity, region_size=16).numpy()
    assert _segments_cross(ids, 70) == set()
    flat = superpixels(image, torch.zeros(H, W), region_size=16).numpy()
    assert _segments_cross(flat, 70) != set()  # without the depth edge the grid cuts elsewhere: depth made the border


def test_borders_follow_a_colour_edge_and_segments_are_connected() -> None:
    rng = np.random.default_rng(0)
    image = torch.zeros(3, H, W)
    image[0, :, :50] = 0.9  # red left of x = 50, blue right of it
    image[2, :, 50:] = 0.9
    image += torch.from_numpy(rng.normal(0, 0.02, (3, H, W))).float()
    ids = superpixels(image.clamp(0, 1), torch.zeros(H, W), region_size=16).numpy()
    assert _segments_cross(ids, 50) == set()
    k = int(ids.max()) + 1
    assert sorted(np.unique(ids).tolist()) == list(range(k)) and 8 <= k <= 100
    assert all(_components(ids, v) == 1 for v in range(k))


def test_png_coding_round_trips_past_256() -> None:
    ids = np.arange(H * W, dtype=np.int64).reshape(H, W) % 60_000
    rgb = ids_to_rgb(ids)
    assert rgb.dtype == np.uint8 and rgb.shape == (H, W, 3) and (rgb[..., 2] == 0).all()
    assert (rgb_to_ids(rgb) == ids).all()
