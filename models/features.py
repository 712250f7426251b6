"""Diversity features for data selection (`method.md` §4.3 step 3): pooled, standardised depth-decoder features.

The depth teacher's decoder output ("upconv", 3) (256 channels at H/8) is average-pooled to (4, 8), standardised
per channel over the whole pool (mean and unbiased std over images and spatial cells, dims N, H, W), and flattened
to 256·4·8 = 8192 values per image. Pairwise Euclidean distances between those vectors are the diversity measure.

For a large pool the features go to one memory-mapped .npy file (N × 8192), never into RAM whole: a first pass runs
the network, pools, writes the raw pooled values and accumulates per-channel statistics (Chan's parallel
mean/variance, float64); a second pass standardises the file chunk by chunk.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

POOL_SIZE = (4, 8)  # (h, 2h) with h = 4: the method's "avg4" (§4.1 ifp_args)

# progress(stage, fraction, message); stages: "features" (network pass), "standardise" (second pass)
Progress = Callable[[str, float, str], None]


def pool_feature_map(fmap: Tensor, size: tuple[int, int] = POOL_SIZE) -> Tensor:
    """Adaptive average pooling of a (B, C, h, w) decoder map to (B, C, 4, 8), in float32."""
    return F.adaptive_avg_pool2d(fmap.float(), size)  # (B, C, 4, 8)


def standardise_pooled(pooled: Tensor) -> Tensor:
    """Standardise (N, C, h, w) per channel over N, h, w (unbiased std) and flatten to (N, C·h·w).

    This is the in-memory version, for pools that fit in RAM and for tests; `extract_features` does the same in two
    passes over a file. Channels with zero spread become 0 (the paper's code would divide by zero).
    """
    mean = pooled.mean(dim=(0, 2, 3), keepdim=True)  # (1, C, 1, 1)
    std = pooled.std(dim=(0, 2, 3), keepdim=True, unbiased=True)
    out = (pooled - mean) / torch.where(std > 0, std, torch.ones_like(std))
    return out.flatten(1)  # (N, C·h·w), channel-major


class _ChannelStats:
    """Per-channel count/mean/M2 merged batch by batch (Chan et al.'s parallel variance), in float64."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: np.ndarray | None = None
        self.m2: np.ndarray | None = None

    def add(self, pooled: np.ndarray) -> None:  # (B, C, h, w)
        x = pooled.astype(np.float64).transpose(1, 0, 2, 3).reshape(pooled.shape[1], -1)  # (C, B·h·w)
        n_b = x.shape[1]
        mean_b = x.mean(1)
        m2_b = ((x - mean_b[:, None]) ** 2).sum(1)
        if self.mean is None or self.m2 is None:
            self.count, self.mean, self.m2 = n_b, mean_b, m2_b
            return
        n = self.count + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.m2 = self.m2 + m2_b + delta**2 * (self.count * n_b / n)
        self.count = n

    def mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        assert self.mean is not None and self.m2 is not None
        std = np.sqrt(self.m2 / max(self.count - 1, 1))  # unbiased, like torch.std
        return self.mean, std


def _images_and_index(batch: Any, start: int) -> tuple[Tensor, Tensor]:
    """The image tensor of a batch (a batch dict of `models.data.batch`, or a bare tensor) and its pool rows."""
    if isinstance(batch, Mapping):
        image = batch["image"]
        index = batch.get("index")
    else:
        image, index = batch, None
    if index is None:
        index = torch.arange(start, start + image.shape[0])
    return image, index.long().cpu()


@torch.no_grad()
def extract_features(
    model_fn: Callable[[Tensor], Tensor],
    loader: Iterable[Any],
    n_images: int,
    out_path: str | os.PathLike[str],
    *,
    device: str | torch.device = "cpu",
    dtype: np.dtype | type = np.float32,
    chunk_rows: int = 4096,
    progress: Progress | None = None,
) -> Path:
    """Run `model_fn` over the pool and write its standardised pooled features to a memory-mapped .npy file.

    Args:
        model_fn: maps images (B, 3, H, W) on `device` to the decoder map (B, C, h, w), e.g.
            `lambda x: depth_model.features(x, 3)` for the teacher in eval mode. Called under no_grad; wrap it in
            autocast yourself for mixed precision (the pooled values are accumulated in float32 either way).
        loader: yields batch dicts with "image" (and "index" = pool row; else rows are taken in order) or tensors.
        n_images: pool size N: rows of the file.
        out_path: the .npy file to write (N, C·4·8). Read it back with `load_features`.
        device: where the network runs.
        dtype: storage dtype, float32 or float16 (half the size; selection reads it exactly, see models.selection).
        chunk_rows: rows standardised at once in the second pass.
        progress: called as progress(stage, fraction, message).

    Returns:
        `out_path` as a Path.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float16)):
        raise ValueError(f"features are stored as float32 or float16, not {dtype}")
    # Raw pooled values stay float32 until standardised: a float16 copy of unstandardised values would lose precision.
    raw_path = out_path if dtype == np.float32 else out_path.with_suffix(".raw.npy")
    raw: np.memmap | None = None
    written = np.zeros(n_images, dtype=bool)
    stats = _ChannelStats()
    start = 0
    total_batches = len(loader) if hasattr(loader, "__len__") else None  # type: ignore[arg-type]
    for b, batch in enumerate(loader):
        image, index = _images_and_index(batch, start)
        start += image.shape[0]
        pooled = pool_feature_map(model_fn(image.to(device))).cpu().numpy()  # (B, C, 4, 8)
        if raw is None:
            raw = np.lib.format.open_memmap(raw_path, mode="w+", dtype=np.float32,
                                            shape=(n_images, int(np.prod(pooled.shape[1:]))))  # fmt: skip
        idx = index.numpy()
        if idx.min() < 0 or idx.max() >= n_images:
            raise IndexError(f"batch index outside the pool of {n_images} images")
        raw[idx] = pooled.reshape(pooled.shape[0], -1)
        written[idx] = True
        stats.add(pooled)
        if progress is not None:
            frac = (b + 1) / total_batches if total_batches else min(start / max(n_images, 1), 1.0)
            progress("features", frac, f"{start}/{n_images} images")
    if raw is None or not written.all():
        raise ValueError(f"the loader covered {int(written.sum())} of {n_images} images")

    mean, std = stats.mean_std()
    n_channels = mean.shape[0]
    cells = raw.shape[1] // n_channels
    # Flattened layout is channel-major: column k belongs to channel k // cells.
    mean_col = np.repeat(mean, cells).astype(np.float32)  # (C·h·w,)
    inv_std_col = np.repeat(np.where(std > 0, 1.0 / np.where(std > 0, std, 1.0), 0.0), cells).astype(np.float32)
    out = raw if raw_path == out_path else np.lib.format.open_memmap(out_path, mode="w+", dtype=dtype, shape=raw.shape)
    for r0 in range(0, n_images, chunk_rows):
        block = (raw[r0 : r0 + chunk_rows] - mean_col) * inv_std_col
        out[r0 : r0 + chunk_rows] = block.astype(dtype)
        if progress is not None:
            progress("standardise", min((r0 + chunk_rows) / n_images, 1.0), f"{min(r0 + chunk_rows, n_images)} rows")
    out.flush()
    del out, raw
    if raw_path != out_path:
        raw_path.unlink()
    return out_path


def load_features(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> Tensor:
    """The (N, D) feature array of `extract_features`: memory-mapped on CPU (copy-on-write, nothing read until
    used), or copied to `device`."""
    array = np.load(path, mmap_mode="c")
    features = torch.from_numpy(array)
    return features if torch.device(device).type == "cpu" else features.to(device)
