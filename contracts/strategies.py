"""The names of the selection strategies: the API's enum, the project settings' type and the models' registry keys.

The functions live in `models.strategies.STRATEGIES` (torch); this module is what the API may import. A test ties
the two (tests/models/test_selection_strategies.py). Adding a strategy: a member and its description here, a
function and its registry line in `models/strategies.py` (docs/selection.md, "Adding a strategy").
"""

from __future__ import annotations

from enum import StrEnum


class StrategyName(StrEnum):
    """`method.md` §4.1 names the paper's variants: ds_us (the method), ds, us, ent; random is the baseline."""

    RANDOM = "random"
    ENTROPY = "entropy"
    DIVERSITY = "diversity"
    DIFFICULTY = "difficulty"
    DIVERSITY_DIFFICULTY = "diversity+difficulty"


DEFAULT_STRATEGY = StrategyName.DIVERSITY_DIFFICULTY

# What each strategy does, in the words the API and the web app show a lead.
DESCRIPTIONS: dict[StrategyName, str] = {
    StrategyName.RANDOM: "uniformly random unlabeled images (the baseline)",
    StrategyName.ENTROPY: "images the segmentation model is least certain about (highest mean entropy)",
    StrategyName.DIVERSITY: "images farthest in depth-feature space from everything labeled or already chosen",
    StrategyName.DIFFICULTY: "images whose depth a small student, trained on the labeled images, learns worst",
    StrategyName.DIVERSITY_DIFFICULTY: "the method: farthest in depth-feature space, biased towards hard depth",
}
