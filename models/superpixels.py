"""Superpixels from colour *and* predicted depth, for the annotator's click-fill (docs/web.md, "Superpixels").

SLIC (Achanta et al., "SLIC Superpixels Compared to State-of-the-Art Superpixel Methods", TPAMI 2012) clusters
pixels by CIELAB colour and position around a grid of centres. Here every pixel also carries the depth model's
disparity, so a segment border follows a depth edge even where the colours on both sides match (a grey car in
front of a grey wall), which colour-only superpixels miss. Distance of pixel p to centre c:

    D² = ‖lab_p − lab_c‖² + (depth_weight · (d_p − d_c))² + (compactness / S)² · ‖xy_p − xy_c‖²

lab in CIELAB units (L 0..100), d the disparity min-max normalised to 0..1 over the image, xy in pixels, S the grid
step (`region_size`). compactness 10 is SLIC's usual value; depth_weight 40 makes a jump across the image's whole
disparity range cost as much as 40 Lab units (about dark asphalt against a light wall). Each pixel compares only
the centres of its own and the 8 neighbouring grid cells (SLIC's 2S × 2S window). Afterwards every segment is made
4-connected (a cluster's disconnected pieces become segments of their own) and pieces smaller than
`min_size_fraction` · S² join a neighbouring segment, so a click never fills a stray fragment far away.

Output ids are 0..K-1 (K ≤ 65,536), stored for browsers as an RGB PNG with id = R + 256·G (`ids_to_rgb`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from kornia.color import rgb_to_lab
from PIL import Image
from torch import Tensor

MAX_SEGMENTS = 1 << 16  # what R + 256·G can hold


@torch.no_grad()
def superpixels(
    image: Tensor,
    disparity: Tensor,
    *,
    region_size: int = 24,
    compactness: float = 10.0,
    depth_weight: float = 40.0,
    iterations: int = 6,
    min_size_fraction: float = 0.25,
) -> Tensor:
    """Segment ids (H, W) int64, 0..K-1, each segment 4-connected.

    Args:
        image: (3, H, W) RGB in [0, 1].
        disparity: (H, W) or (1, H, W), any scale (normalised here); larger = closer.
        region_size: S, the grid step in pixels (segments are about S × S).
    """
    _, H, W = image.shape
    device = image.device
    S = float(region_size)
    lab = rgb_to_lab(image[None].float().clamp(0, 1))[0]  # (3, H, W)
    d = disparity.reshape(H, W).float()
    d = (d - d.min()) / (d.max() - d.min()).clamp_min(1e-12)
    feats = torch.cat([lab, depth_weight * d[None]], 0).reshape(4, -1)  # (4, H·W)
    ys = torch.arange(H, device=device, dtype=torch.float32)[:, None].expand(H, W).reshape(-1)
    xs = torch.arange(W, device=device, dtype=torch.float32)[None, :].expand(H, W).reshape(-1)

    gh, gw = max(1, round(H / S)), max(1, round(W / S))
    cell_y = (ys * gh / H).long().clamp(max=gh - 1)  # (H·W,) the pixel's grid cell
    cell_x = (xs * gw / W).long().clamp(max=gw - 1)
    cy = ((torch.arange(gh, device=device) + 0.5) * H / gh)[:, None].expand(gh, gw).reshape(-1)  # (K,)
    cx = ((torch.arange(gw, device=device) + 0.5) * W / gw)[None, :].expand(gh, gw).reshape(-1)
    seed = cy.long().clamp(max=H - 1) * W + cx.long().clamp(max=W - 1)
    centres = feats[:, seed].clone()  # (4, K)
    spatial = (compactness / S) ** 2
    neighbours = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    for _ in range(iterations):
        best = torch.full((H * W,), float("inf"), device=device)
        assign = torch.zeros(H * W, dtype=torch.long, device=device)
        for dy, dx in neighbours:
            k = (cell_y + dy).clamp(0, gh - 1) * gw + (cell_x + dx).clamp(0, gw - 1)  # (H·W,)
            dist = ((feats - centres[:, k]) ** 2).sum(0) + spatial * ((ys - cy[k]) ** 2 + (xs - cx[k]) ** 2)
            better = dist < best
            best = torch.where(better, dist, best)
            assign = torch.where(better, k, assign)
        count = torch.zeros(gh * gw, device=device).index_add_(0, assign, torch.ones_like(ys))
        filled = count > 0  # an empty cluster keeps its old centre
        for values, target in ((ys, cy), (xs, cx)):
            total = torch.zeros(gh * gw, device=device).index_add_(0, assign, values)
            target[filled] = total[filled] / count[filled]
        total = torch.zeros(4, gh * gw, device=device).index_add_(1, assign, feats)
        centres[:, filled] = total[:, filled] / count[filled]
    labels = _connected(assign.reshape(H, W))
    labels = _absorb_small(labels, max(1, int(min_size_fraction * S * S)))
    ids = torch.unique(labels.reshape(-1), return_inverse=True)[1].reshape(H, W)
    if int(ids.max()) >= MAX_SEGMENTS:
        raise ValueError(f"{int(ids.max()) + 1} segments do not fit an R + 256·G PNG; use a larger region_size")
    return ids


def _connected(assign: Tensor) -> Tensor:
    """4-connected components of equal `assign` (H, W): each pixel labelled by the smallest flat index of its
    component (min-propagation between equal neighbours, with pointer jumping: a label's own label)."""
    H, W = assign.shape
    labels = torch.arange(H * W, device=assign.device).reshape(H, W)
    same_x = assign[:, 1:] == assign[:, :-1]  # (H, W-1)
    same_y = assign[1:, :] == assign[:-1, :]  # (H-1, W)
    while True:
        new = labels.clone()
        new[:, :-1] = torch.where(same_x, torch.minimum(new[:, :-1], labels[:, 1:]), new[:, :-1])
        new[:, 1:] = torch.where(same_x, torch.minimum(new[:, 1:], labels[:, :-1]), new[:, 1:])
        new[:-1, :] = torch.where(same_y, torch.minimum(new[:-1, :], labels[1:, :]), new[:-1, :])
        new[1:, :] = torch.where(same_y, torch.minimum(new[1:, :], labels[:-1, :]), new[1:, :])
        new = new.reshape(-1)[new.reshape(-1)].reshape(H, W)  # jump: a pixel takes its label's label
        if torch.equal(new, labels):
            return labels
        labels = new


def _absorb_small(labels: Tensor, min_size: int, max_rounds: int = 256) -> Tensor:
    """Pixels of components smaller than `min_size` take the label of their 4-neighbour in the largest component,
    when that component is larger than their own; components grow into small ones one pixel per round."""
    H, W = labels.shape
    for _ in range(max_rounds):
        size = torch.bincount(labels.reshape(-1), minlength=H * W)
        own = size[labels]  # (H, W) the size of each pixel's component
        small = own < min_size
        if not small.any():
            break
        pad = F.pad(labels[None, None].float(), (1, 1, 1, 1), mode="replicate")[0, 0].long()  # (H+2, W+2)
        shifts = [pad[1 + dy : 1 + dy + H, 1 + dx : 1 + dx + W] for dy, dx in ((0, -1), (0, 1), (-1, 0), (1, 0))]
        candidates = torch.stack(shifts)  # (4, H, W) the neighbours' labels
        sizes = size[candidates]  # (4, H, W)
        best = sizes.argmax(0, keepdim=True)
        take = small & (sizes.gather(0, best)[0] > own)
        if not take.any():
            break
        labels = torch.where(take, candidates.gather(0, best)[0], labels)
    return labels


def ids_to_rgb(ids: np.ndarray) -> np.ndarray:
    """(H, W) ids < 65,536 → (H, W, 3) uint8 with id = R + 256·G (what a browser canvas can read back)."""
    out = np.zeros((*ids.shape, 3), np.uint8)
    out[..., 0], out[..., 1] = ids % 256, ids // 256
    return out


def rgb_to_ids(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0].astype(np.int64) + 256 * rgb[..., 1].astype(np.int64)


@torch.no_grad()
def write_segments(
    depth_checkpoint: Path,
    images: Sequence[Path],
    out_paths: Sequence[Path],
    *,
    size: tuple[int, int] | None,
    device: torch.device,
    progress: Callable[[str, float, str], None] | None = None,
) -> None:
    """For each image: the depth model's disparity (at the round's `size`, resized bilinearly to the file's size),
    then `superpixels` at the file's size, written as an RGB PNG (`ids_to_rgb`) to the same index of `out_paths`."""
    from contracts.cityscapes import load_image
    from models.depth_model import load_depth_model

    model, _ = load_depth_model(depth_checkpoint, device)
    for k, (path, out) in enumerate(zip(images, out_paths, strict=True)):
        native = load_image(path)  # (H, W, 3) uint8
        x = native if size is None else load_image(path, size)
        net_in = torch.from_numpy(x).permute(2, 0, 1)[None].float().div(255.0).to(device)  # (1, 3, h, w)
        disp = model.predict_disp(net_in).float()  # (1, 1, h, w)
        if disp.shape[-2:] != native.shape[:2]:
            disp = F.interpolate(disp, size=native.shape[:2], mode="bilinear", align_corners=False)
        image = torch.from_numpy(native).permute(2, 0, 1).float().div(255.0).to(device)  # (3, H, W)
        ids = superpixels(image, disp[0, 0]).cpu().numpy()
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        Image.fromarray(ids_to_rgb(ids)).save(tmp, format="PNG")
        tmp.replace(out)  # atomic: the API never serves half a file
        if progress is not None:
            progress("segments", (k + 1) / len(images), f"{k + 1}/{len(images)} superpixel maps")
