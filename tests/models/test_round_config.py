"""The typed project settings (contracts.settings) against the configurations they override: every override names
exactly the fields of its configuration, and the settings' name lists are the models' tables."""

from __future__ import annotations

from dataclasses import fields
from typing import get_args

import pytest

from contracts.settings import (
    DepthOverrides,
    MixName,
    Overrides,
    ProjectSettings,
    ResNetDepth,
    SegOverrides,
    StudentOverrides,
)
from models.depth_model import DepthConfig
from models.depthmix import MIX_MASKS
from models.difficulty import StudentConfig
from models.encoder import CHANNELS
from models.rounds.config import RoundConfig
from models.seg_train import SegTrainConfig


@pytest.mark.parametrize(
    ("overrides", "config", "extra"),
    [
        (DepthOverrides, DepthConfig, set()),
        (SegOverrides, SegTrainConfig, {"variant"}),
        (StudentOverrides, StudentConfig, set()),
    ],  # fmt: skip
)
def test_each_override_names_exactly_its_configurations_fields(overrides: type[Overrides], config, extra) -> None:
    settable = {f.name for f in fields(config)} - {"net"}  # the network follows the depth checkpoint
    assert set(overrides.model_fields) == settable | extra


def test_name_lists_are_the_models_tables() -> None:
    assert set(get_args(MixName)) == set(MIX_MASKS)
    assert set(get_args(ResNetDepth)) == set(CHANNELS)


def test_every_override_reaches_the_configuration() -> None:
    """One value per field, different from the preset's: each arrives in the round's configuration."""
    settings = ProjectSettings.model_validate(
        {"preset": "tiny", "depth": {"finetune_iters": 9, "layers": 50, "weights": "imagenet", "min_depth": 0.5},
         "seg": {"variant": "scratch", "mix": "classmix", "iterations": 11, "encoder_weights": "imagenet"},
         "student": {"crop": [32, 64], "iters": 3}, "seed": 4, "score_batch_size": 7, "min_labeled": 3}
    )  # fmt: skip
    cfg = RoundConfig.from_settings(settings, size=(32, 64))
    assert (cfg.depth.finetune_iters, cfg.depth.layers, cfg.depth.weights, cfg.depth.min_depth) == (
        9,
        50,
        "imagenet",
        0.5,
    )
    assert (cfg.seg_variant, cfg.seg.mix, cfg.seg.iterations, cfg.seg.encoder_weights) == (
        "scratch",
        "classmix",
        11,
        "imagenet",
    )
    assert (cfg.student.crop, cfg.student.iters) == ((32, 64), 3)
    assert cfg.seed == cfg.depth.seed == cfg.seg.seed == cfg.student.seed == 4
    assert (cfg.score_batch_size, cfg.min_labeled) == (7, 3)


def test_only_what_the_lead_set_is_stored_and_shown() -> None:
    settings = ProjectSettings.model_validate({"depth": {"finetune_iters": 3}, "seed": 2})
    assert settings.stored() == {"depth": {"finetune_iters": 3}, "seed": 2}
    shown = settings.model_dump(mode="json")
    assert shown["depth"] == {"finetune_iters": 3} and shown["student"] == {}
    assert shown["strategy"] == "diversity+difficulty" and shown["score_shard_size"] == 50_000  # defaults filled
