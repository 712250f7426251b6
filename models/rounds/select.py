"""Stage 4 of a round: choose the batch with the round's strategy (`models.strategies.STRATEGIES`, method.md §4.3)
and say why each image was chosen."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from contracts.settings import DIFFICULTY_WEIGHT
from contracts.strategies import StrategyName
from models.rounds.config import RoundInputError
from models.strategies import STRATEGIES, PickScores, PoolScores


@dataclass(frozen=True)
class Pick:
    """One chosen pool image and why: its rank (pick order), its feature distance to the nearest labeled or earlier
    chosen image, and its difficulty / entropy (None where not computed)."""

    index: int
    rank: int
    distance: float | None
    difficulty: float | None
    entropy: float | None
    combined: float | None


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def select(
    strategy: StrategyName,
    n_labeled: int,
    batch_size: int,
    seed: int,
    *,
    features: Tensor | None = None,
    difficulty: np.ndarray | None = None,
    entropy: np.ndarray | None = None,
    difficulty_weight: float = DIFFICULTY_WEIGHT,
) -> list[Pick]:
    """Choose `batch_size` unlabeled pool images (indices ≥ n_labeled) with the named strategy (method.md §4.3).

    `features` (N, D) standardised; `difficulty`/`entropy` (N,) with NaN allowed for labeled rows;
    `difficulty_weight` is λ of "diversity+difficulty" (score = distance + λ·difficulty)."""
    n_pool = features.shape[0] if features is not None else len(difficulty if difficulty is not None else entropy)
    if batch_size > n_pool - n_labeled:
        raise RoundInputError(f"the batch of {batch_size} is larger than the {n_pool - n_labeled} unlabeled images")

    def tensor(a: np.ndarray | None) -> Tensor | None:
        return None if a is None else torch.from_numpy(np.nan_to_num(np.asarray(a, dtype=np.float64), nan=0.0))

    scores = PoolScores(n_pool, features=features, difficulty=tensor(difficulty), entropy=tensor(entropy),
                        difficulty_weight=difficulty_weight)  # fmt: skip
    labeled = list(range(n_labeled))
    entry = STRATEGIES[strategy]
    chosen = entry.choose(scores, labeled, batch_size, seed)
    distances: list[float | None] = [None] * len(chosen)
    if features is not None:
        centres = labeled.copy()
        for k, j in enumerate(chosen):
            if centres:
                d = torch.cdist(features[j : j + 1].double(), features[centres].double())  # (1, |centres|)
                distances[k] = float(d.min())
            centres.append(j)
    picks = []
    for rank, (j, dist) in enumerate(zip(chosen, distances, strict=True)):
        diff = _finite(difficulty[j]) if difficulty is not None else None
        ent = _finite(entropy[j]) if entropy is not None else None
        combined = entry.combined(PickScores(dist, diff, ent, difficulty_weight))
        picks.append(Pick(j, rank, dist, diff, ent, combined))
    return picks
