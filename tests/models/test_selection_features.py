"""Diversity features (method.md §4.3 step 3): pooling, per-channel standardisation, two-pass file extraction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.features import extract_features, load_features, pool_feature_map, standardise_pooled


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


def _fake_model(image):
    # (B, 3, H, W) -> (B, 6, H/2, W/2): a fixed, non-trivial map standing in for the decoder
    x = torch.nn.functional.avg_pool2d(image, 2)
    return torch.cat([x, x**2 - 0.3], dim=1)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_extract_matches_in_memory_version(tmp_path, dtype):
    g = torch.Generator().manual_seed(1)
    images = torch.rand(23, 3, 16, 32, generator=g)
    order = torch.randperm(23, generator=g)
    # batch dicts in a shuffled order, rows placed by "index"
    loader = [{"image": images[order[i : i + 5]], "index": order[i : i + 5]} for i in range(0, 23, 5)]
    calls = []
    path = extract_features(_fake_model, loader, 23, tmp_path / "f.npy", dtype=dtype, chunk_rows=7,
                            progress=lambda stage, frac, msg: calls.append((stage, frac)))  # fmt: skip
    got = load_features(path)
    want = standardise_pooled(pool_feature_map(_fake_model(images)))
    assert got.shape == (23, 6 * 32) and got.dtype == torch.from_numpy(np.zeros(1, dtype)).dtype
    tol = 1e-5 if dtype == np.float32 else 2e-3
    assert torch.allclose(got.float(), want, atol=tol, rtol=tol)
    assert [c for c in calls if c[0] == "features"][-1] == ("features", 1.0)
    assert calls[-1] == ("standardise", 1.0)
    assert not (tmp_path / "f.raw.npy").exists()


def test_extract_refuses_incomplete_pool(tmp_path):
    loader = [torch.rand(4, 3, 8, 16)]  # bare tensors: rows taken in order
    with pytest.raises(ValueError, match="4 of 6"):
        extract_features(_fake_model, loader, 6, tmp_path / "f.npy")
