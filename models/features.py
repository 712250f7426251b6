"""Diversity features for data selection (`method.md` §4.3 step 3): pooled, standardised depth-decoder features.

The depth teacher's decoder output ("upconv", 3) (256 channels at H/8) is average-pooled to (4, 8), standardised
per channel over the whole pool (mean and unbiased std over images and spatial cells, dims N, H, W), and flattened
to 256·4·8 = 8192 values per image. Pairwise Euclidean distances between those vectors are the diversity measure.

For a large pool the features go to one memory-mapped .npy file (N × 8192), never into RAM whole: the scoring
shards write the raw pooled values (`models.rounds.score.score_range`), then `standardise_features` standardises the
file chunk by chunk.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

POOL_SIZE = (4, 8)  # (h, 2h) with h = 4: the method's "avg4" (§4.1 ifp_args)


def pool_feature_map(fmap: Tensor, size: tuple[int, int] = POOL_SIZE) -> Tensor:
    """Adaptive average pooling of a (B, C, h, w) decoder map to (B, C, 4, 8), in float32."""
    return F.adaptive_avg_pool2d(fmap.float(), size)  # (B, C, 4, 8)


def standardise_pooled(pooled: Tensor) -> Tensor:
    """Standardise (N, C, h, w) per channel over N, h, w (unbiased std) and flatten to (N, C·h·w).

    The in-memory reference of `models.rounds.score.standardise_features`, which does the same chunk by chunk over
    a file. Channels with zero spread become 0 (the paper's code would divide by zero).
    """
    mean = pooled.mean(dim=(0, 2, 3), keepdim=True)  # (1, C, 1, 1)
    std = pooled.std(dim=(0, 2, 3), keepdim=True, unbiased=True)
    out = (pooled - mean) / torch.where(std > 0, std, torch.ones_like(std))
    return out.flatten(1)  # (N, C·h·w), channel-major


def load_features(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> Tensor:
    """The (N, D) feature array of `models.rounds.score.standardise_features`: memory-mapped on CPU (copy-on-write,
    nothing read until used), or copied to `device`."""
    array = np.load(path, mmap_mode="c")
    features = torch.from_numpy(array)
    return features if torch.device(device).type == "cpu" else features.to(device)
