"""The selection strategies: one registry, `STRATEGIES`, from a strategy's name to what it does.

`method.md` §4.1 names the paper's variants: "ds_us" (diversity + difficulty, the method), "ds" (diversity only),
"us" (difficulty only), "ent" (segmentation-entropy active learning); "random" is the baseline. Scoring (features,
difficulty, entropy) happens elsewhere (`models.rounds.score`); a strategy only reads the arrays. Each entry owns
its choice (pool arrays → pick order) and its combined score (what a pick's reason shows as "score"), and says
whether its round needs the difficulty student. The names are `contracts.strategies.StrategyName`, which the API
may import; a test keeps the two equal.

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

from contracts.settings import DIFFICULTY_WEIGHT
from contracts.strategies import StrategyName
from models.selection import farthest_point_selection


@dataclass(frozen=True)
class PoolScores:
    """Per-image arrays of one pool, all indexed the same way (0..n_images-1); any may be None."""

    n_images: int
    features: Tensor | None = None  # (N, D) diversity features
    difficulty: Tensor | None = None  # (N,) student-teacher depth error (higher = harder)
    entropy: Tensor | None = None  # (N,) mean segmentation entropy (higher = less certain)
    difficulty_weight: float = DIFFICULTY_WEIGHT  # λ of "diversity+difficulty" (the method: 1000)


Choose = Callable[[PoolScores, Sequence[int], int, int], list[int]]  # (pool, labeled rows, n, seed) -> pick order


@dataclass(frozen=True)
class PickScores:
    """What is known about one picked image: its feature distance to the nearest labeled or earlier chosen image,
    and its difficulty and entropy (None where the round did not compute them)."""

    distance: float | None
    difficulty: float | None
    entropy: float | None
    difficulty_weight: float = DIFFICULTY_WEIGHT


@dataclass(frozen=True)
class Strategy:
    choose: Choose
    combined: Callable[[PickScores], float | None]  # the pick's score, as its reason shows it
    needs_difficulty: bool = False  # the round trains the difficulty student (§4.2) before scoring


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


def _method_score(p: PickScores) -> float | None:
    """The method's biased score (§4.3): distance + λ·difficulty."""
    if p.distance is None or p.difficulty is None:
        return None
    return p.distance + p.difficulty_weight * p.difficulty


STRATEGIES: dict[StrategyName, Strategy] = {
    StrategyName.RANDOM: Strategy(random_strategy, combined=lambda p: None),
    StrategyName.ENTROPY: Strategy(entropy_strategy, combined=lambda p: p.entropy),
    StrategyName.DIVERSITY: Strategy(diversity_strategy, combined=lambda p: p.distance),
    StrategyName.DIFFICULTY: Strategy(difficulty_strategy, combined=lambda p: p.difficulty, needs_difficulty=True),
    StrategyName.DIVERSITY_DIFFICULTY: Strategy(diversity_difficulty_strategy, _method_score, needs_difficulty=True),
}
