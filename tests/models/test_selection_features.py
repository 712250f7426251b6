"""Diversity features (method.md §4.3 step 3): pooling and per-channel standardisation (the file version, which the
rounds run, is checked against this one in tests/models/test_rounds.py)."""

from __future__ import annotations

import torch

from models.features import pool_feature_map, standardise_pooled


def test_pool_is_adaptive_average_to_4x8():
    fmap = torch.arange(2 * 3 * 8 * 16, dtype=torch.float32).reshape(2, 3, 8, 16)
    pooled = pool_feature_map(fmap)
    assert pooled.shape == (2, 3, 4, 8)
    # each output cell averages a 2×2 block here
    assert pooled[1, 2, 3, 5] == fmap[1, 2, 6:8, 10:12].mean()
    assert pool_feature_map(torch.randn(1, 256, 64, 128)).flatten(1).shape == (1, 8192)


def test_standardise_per_channel_over_pool_and_cells():
    g = torch.Generator().manual_seed(0)
    pooled = torch.randn(10, 4, 4, 8, generator=g) * torch.tensor([1.0, 5.0, 0.1, 2.0])[None, :, None, None] + 3.0
    pooled[:, 3] = 7.0  # a dead channel
    flat = standardise_pooled(pooled)
    assert flat.shape == (10, 4 * 32)
    per_channel = flat.reshape(10, 4, 32).transpose(0, 1).reshape(4, -1)  # (C, N·h·w)
    assert torch.allclose(per_channel[:3].mean(1), torch.zeros(3), atol=1e-5)
    assert torch.allclose(per_channel[:3].std(1, unbiased=True), torch.ones(3), atol=1e-5)
    assert torch.all(per_channel[3] == 0)
    # a per-channel affine change of the input does not change the features
    assert torch.allclose(standardise_pooled(pooled * 3.0 - 1.0)[:, :96], flat[:, :96], atol=1e-4)
