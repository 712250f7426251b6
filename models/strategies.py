"""Annotation strategies by name: each turns precomputed per-image arrays into the ranked list the queue serves.

`method.md` §4.1 names the paper's variants: "ds_us" (diversity + difficulty, the method), "ds" (diversity only),
"us" (difficulty only), "ent" (segmentation-entropy active learning); "random" is the baseline. Scoring (features,
difficulty, entropy) happens elsewhere (`models.features`, `models.difficulty`); a strategy only reads the arrays,
so every strategy has the same signature and they sit in the plain dict `STRATEGIES`.

Cold start (no labels yet, §4.3 step 1): the diversity strategies start from one seeded random image, π_s[0], and
continue by pure farthest-point selection; the score strategies ("random", "entropy", "difficulty") start with π_s[:n],
as the paper's lists do. π_s is numpy's legacy `RandomState(seed).permutation(N)`, the paper's permutation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from models.selection import farthest_point_selection

# λ of the method's "bias1000ldepth": score_j = min distance to the labeled set + 1000·difficulty_j (§4.1, §4.3).
DIFFICULTY_WEIGHT = 1000.0


@dataclass(frozen=True)
class PoolScores:
    """Per-image arrays of one pool, all indexed the same way (0..n_images-1); any may be None."""

    n_images: int
    features: Tensor | None = None  # (N, D) diversity features
    difficulty: Tensor | None = None  # (N,) student-teacher depth error (higher = harder)
    entropy: Tensor | None = None  # (N,) mean segmentation entropy (higher = less certain)
    difficulty_weight: float = DIFFICULTY_WEIGHT  # λ of "diversity+difficulty" (the method: 1000)


Strategy = Callable[[PoolScores, Sequence[int], int, int], list[int]]


def seeded_permutation(n_images: int, seed: int) -> list[int]:
    """π_s of `method.md` §4.3: numpy legacy RandomState(seed).permutation(n_images)."""
    return np.random.RandomState(seed).permutation(n_images).tolist()


def cold_start_selection(features: Tensor, n: int, seed: int) -> list[int]:
    """First batch without labels (§4.3 step 1): seed image π_s[0], then pure farthest-point selection."""
    n = min(n, features.shape[0])
    if n <= 0:
        return []
    first = seeded_permutation(features.shape[0], seed)[0]
    return [first, *farthest_point_selection(features, [first], n - 1)]


def _unlabeled_in_order(order: Sequence[int], labeled: Sequence[int], n: int) -> list[int]:
    taken = set(labeled)
    return [i for i in order if i not in taken][:n]


def _require(array: Tensor | None, name: str, strategy: str) -> Tensor:
    if array is None:
        raise ValueError(f"strategy {strategy!r} needs the per-image {name} array, which is missing")
    return array


def _top_scores(scores: Tensor, labeled: Sequence[int], n: int) -> list[int]:
    """Unlabeled images by descending score; equal scores keep ascending index order (stable sort)."""
    order = torch.sort(scores.detach().to("cpu", torch.float64), descending=True, stable=True).indices.tolist()
    return _unlabeled_in_order(order, labeled, n)


def random_strategy(pool: PoolScores, labeled: Sequence[int], n: int, seed: int) -> list[int]:
    """Uniform random order of the unlabeled images (π_s with the labeled ones removed)."""
    return _unlabeled_in_order(seeded_permutation(pool.n_images, seed), labeled, n)


def entropy_strategy(pool: PoolScores, labeled: Sequence[int], n: int, seed: int) -> list[int]:
    """Highest segmentation entropy first ("ent"); random π_s[:n] before any label exists."""
    if not labeled:
        return random_strategy(pool, labeled, n, seed)
    return _top_scores(_require(pool.entropy, "entropy", "entropy"), labeled, n)


def difficulty_strategy(pool: PoolScores, labeled: Sequence[int], n: int, seed: int) -> list[int]:
    """Highest student-teacher depth error first ("us"); random π_s[:n] before any label exists."""
    if not labeled:
        return random_strategy(pool, labeled, n, seed)
    return _top_scores(_require(pool.difficulty, "difficulty", "difficulty"), labeled, n)


def diversity_strategy(pool: PoolScores, labeled: Sequence[int], n: int, seed: int) -> list[int]:
    """Farthest-point selection in depth-feature space ("ds"); seeded cold start before any label exists."""
    features = _require(pool.features, "features", "diversity")
    if not labeled:
        return cold_start_selection(features, n, seed)
    return farthest_point_selection(features, labeled, n)


def diversity_difficulty_strategy(pool: PoolScores, labeled: Sequence[int], n: int, seed: int) -> list[int]:
    """The method ("ds_us"): farthest-point selection biased by λ·difficulty; λ = 1000 in the method (§4.1, §4.3
    step 3), `pool.difficulty_weight` here (a project setting: the right λ depends on the feature width and the
    student)."""
    features = _require(pool.features, "features", "diversity+difficulty")
    if not labeled:
        # No student can be trained without labels: the method's first batch is the pure-diversity cold start.
        return cold_start_selection(features, n, seed)
    difficulty = _require(pool.difficulty, "difficulty", "diversity+difficulty")
    return farthest_point_selection(features, labeled, n, bias=pool.difficulty_weight * difficulty.to(torch.float64))


STRATEGIES: dict[str, Strategy] = {
    "random": random_strategy,
    "entropy": entropy_strategy,
    "diversity": diversity_strategy,
    "difficulty": difficulty_strategy,
    "diversity+difficulty": diversity_difficulty_strategy,
}
