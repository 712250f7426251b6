"""Strategies by name and the cold start (method.md §4.1, §4.3 step 1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.selection import farthest_point_selection
from models.strategies import STRATEGIES, PoolScores, cold_start_selection, seeded_permutation


def _pool(n=120, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return PoolScores(
        n_images=n,
        features=torch.randn(n, d, generator=g),
        difficulty=torch.rand(n, generator=g) * 0.05,
        entropy=torch.rand(n, generator=g),
    )


def test_registry_names():
    assert set(STRATEGIES) == {"random", "entropy", "diversity", "difficulty", "diversity+difficulty"}


@pytest.mark.parametrize("name", sorted(STRATEGIES))
@pytest.mark.parametrize("labeled", [[], [3, 50, 7, 99]])
def test_distinct_unlabeled_deterministic(name, labeled):
    pool = _pool()
    fn = STRATEGIES[name].choose
    got = fn(pool, labeled, 30, 42)
    assert len(got) == 30
    assert len(set(got)) == 30
    assert not set(got) & set(labeled)
    assert all(0 <= i < pool.n_images for i in got)
    assert fn(pool, labeled, 30, 42) == got  # deterministic per seed
    # more than available: every unlabeled image, once
    everything = fn(pool, labeled, 500, 42)
    assert sorted(everything) == sorted(set(range(pool.n_images)) - set(labeled))


def test_seed_changes_random_and_cold_start():
    pool = _pool()
    assert STRATEGIES["random"].choose(pool, [], 20, 1) != STRATEGIES["random"].choose(pool, [], 20, 2)
    assert cold_start_selection(pool.features, 10, 1) != cold_start_selection(pool.features, 10, 2)


def test_cold_start_is_seed_image_then_pure_diversity():
    pool = _pool()
    picks = cold_start_selection(pool.features, 12, 43)
    first = np.random.RandomState(43).permutation(pool.n_images)[0]
    assert picks[0] == first == seeded_permutation(pool.n_images, 43)[0]
    assert picks[1:] == farthest_point_selection(pool.features, [first], 11)
    # the paper's seed images for its 2975-image pool (method.md §4.3 step 1)
    assert [seeded_permutation(2975, s)[0] for s in (42, 43, 44)] == [2403, 938, 1436]
    # both diversity strategies start the same way (the paper's "ds" and "ds_us" share their first 25)
    assert (
        STRATEGIES["diversity"].choose(pool, [], 12, 43)
        == picks
        == STRATEGIES["diversity+difficulty"].choose(pool, [], 12, 43)
    )


def test_score_strategies_rank_by_score():
    pool = _pool()
    labeled = [0, 1]
    ent = STRATEGIES["entropy"].choose(pool, labeled, 5, 0)
    want = [i for i in torch.argsort(pool.entropy, descending=True).tolist() if i not in labeled][:5]
    assert ent == want
    dif = STRATEGIES["difficulty"].choose(pool, labeled, 5, 0)
    assert dif == [i for i in torch.argsort(pool.difficulty, descending=True).tolist() if i not in labeled][:5]
    # cold start of the score strategies is π_s[:n], as in the paper's "ent"/"us" lists
    assert STRATEGIES["entropy"].choose(pool, [], 5, 42) == seeded_permutation(pool.n_images, 42)[:5]


def test_method_uses_lambda_1000_bias():
    pool = _pool()
    labeled = [5, 6]
    got = STRATEGIES["diversity+difficulty"].choose(pool, labeled, 10, 0)
    assert got == farthest_point_selection(pool.features, labeled, 10, bias=1000.0 * pool.difficulty.double())
    # with a huge difficulty on one image, it comes first
    difficulty = pool.difficulty.clone()
    difficulty[77] = 10.0
    boosted = PoolScores(pool.n_images, pool.features, difficulty, pool.entropy)
    assert STRATEGIES["diversity+difficulty"].choose(boosted, labeled, 3, 0)[0] == 77
    # λ is the pool's difficulty_weight: 0 is pure diversity, another λ biases by that much
    plain = PoolScores(pool.n_images, pool.features, pool.difficulty, pool.entropy, difficulty_weight=0.0)
    assert STRATEGIES["diversity+difficulty"].choose(plain, labeled, 10, 0) == STRATEGIES["diversity"].choose(
        pool, labeled, 10, 0
    )
    light = PoolScores(pool.n_images, pool.features, pool.difficulty, pool.entropy, difficulty_weight=30.0)
    assert STRATEGIES["diversity+difficulty"].choose(light, labeled, 10, 0) == farthest_point_selection(
        pool.features, labeled, 10, bias=30.0 * pool.difficulty.double()
    )


def test_missing_array_is_named():
    pool = PoolScores(n_images=10)
    with pytest.raises(ValueError, match="features"):
        STRATEGIES["diversity"].choose(pool, [1], 3, 0)
    with pytest.raises(ValueError, match="entropy"):
        STRATEGIES["entropy"].choose(pool, [1], 3, 0)
