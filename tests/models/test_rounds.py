"""models.rounds / prelabel: selection with reasons, feature standardisation, settings → configuration, label
formats, overlays, and one cold start + one training round of the whole library on a tiny synthetic world."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from contracts.cityscapes import load_label
from contracts.strategies import StrategyName
from models.device import DeviceUnavailable, resolve_device
from models.features import standardise_pooled
from models.prelabel import cityscapes_palette, overlay, write_prelabels
from models.rounds.config import RoundConfig, RoundInputError
from models.rounds.loop import run_round
from models.rounds.score import standardise_features
from models.rounds.select import select
from models.rounds.train import train_student
from models.strategies import STRATEGIES


def test_the_api_enum_names_exactly_the_registry() -> None:
    assert set(STRATEGIES) == set(StrategyName)


def test_settings_presets_overrides_and_errors() -> None:
    cfg = RoundConfig.from_settings({"preset": "tiny", "seed": 5, "seg": {"iterations": 7, "variant": "multitask"}},
                                    size=(48, 96), num_classes=3)  # fmt: skip
    assert (cfg.seg.iterations, cfg.seg_variant) == (7, "multitask")
    assert cfg.seg.seed == cfg.depth.seed == cfg.student.seed == 5
    assert (cfg.size, cfg.num_classes, cfg.strategy, cfg.depth.layers) == ((48, 96), 3, "diversity+difficulty", 18)
    assert RoundConfig.from_settings({"preset": "method"}).depth.layers == 101  # the paper's ResNet-101
    with pytest.raises(ValueError, match="colour\n  Extra inputs are not permitted"):
        RoundConfig.from_settings({"colour": "red"})
    with pytest.raises(ValueError, match="seg.iters\n  Extra inputs are not permitted"):
        RoundConfig.from_settings({"seg": {"iters": 3}})
    with pytest.raises(ValueError, match="strategy\n  Input should be 'random'"):
        RoundConfig.from_settings({"strategy": "psychic"})
    with pytest.raises(ValueError, match="preset\n  Input should be 'tiny', 'small' or 'method'"):
        RoundConfig.from_settings({"preset": "huge"})
    assert RoundConfig.from_settings({}).difficulty_weight == 1000.0  # the method's λ by default
    assert RoundConfig.from_settings({"difficulty_weight": 50}).difficulty_weight == 50.0
    for bad in (-1, "heavy", float("nan")):
        with pytest.raises(ValueError, match="difficulty_weight\n  Input should be"):
            RoundConfig.from_settings({"difficulty_weight": bad})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_gpu_only_setting_without_gpu_is_a_clear_error() -> None:
    with pytest.raises(DeviceUnavailable, match="GPU only"):
        resolve_device("cuda")
    assert resolve_device("auto").type == "cpu"


def test_standardise_features_matches_the_in_memory_version(tmp_path: Path) -> None:
    pooled = torch.randn(13, 5, 4, 8, dtype=torch.float64) * torch.arange(1, 6).view(1, 5, 1, 1) + 3.0
    pooled[:, 2] = 7.0  # a zero-spread channel becomes 0, not NaN
    raw = tmp_path / "raw.npy"
    np.save(raw, pooled.flatten(1).numpy().astype(np.float32))
    out = np.load(standardise_features(raw, tmp_path / "f.npy", chunk_rows=4))
    expected = standardise_pooled(pooled.float()).numpy()
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert np.all(out[:, 64:96] == 0)


def test_select_reports_rank_distance_and_difficulty() -> None:
    # Labeled image 0 at the origin; unlabeled at distances 1, 5, 2 along x, and one far out but easy.
    features = torch.tensor([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0], [2.0, 0.0], [0.0, 9.0]])
    picks = select("diversity", 1, 2, 0, features=features)
    assert [(p.index, p.rank) for p in picks] == [(4, 0), (2, 1)]
    assert picks[0].distance == pytest.approx(9.0) and picks[1].distance == pytest.approx(5.0)
    difficulty = np.array([np.nan, 0.0, 0.0, 0.02, 0.0])  # image 3 is hard: 2 + 1000·0.02 = 22 beats 9
    picks = select("diversity+difficulty", 1, 1, 0, features=features, difficulty=difficulty)
    assert picks[0].index == 3 and picks[0].difficulty == pytest.approx(0.02)
    assert picks[0].combined == pytest.approx(2.0 + 20.0)
    # a smaller λ (project setting difficulty_weight) lets distance win: 9 beats 2 + 100·0.02 = 4
    picks = select("diversity+difficulty", 1, 1, 0, features=features, difficulty=difficulty, difficulty_weight=100.0)
    assert picks[0].index == 4 and picks[0].combined == pytest.approx(9.0)
    cold = select("diversity", 0, 3, 42, features=features)  # π_42[0] first (no distance), then farthest points
    assert cold[0].index == int(np.random.RandomState(42).permutation(5)[0]) and cold[0].distance is None
    with pytest.raises(RoundInputError, match="larger than the 4 unlabeled"):
        select("random", 1, 5, 0, features=features)


def test_train_id_labels_and_overlay(tmp_path: Path) -> None:
    ids = np.array([[0, 5, 255], [18, 1, 2]], dtype=np.uint8)
    Image.fromarray(ids).save(tmp_path / "m.png")
    assert np.array_equal(load_label(tmp_path / "m.png", label_format="train_ids"), ids)
    # The same values read as Cityscapes label ids: 0..6 are "void" ids, 255 is unknown → an error naming it.
    with pytest.raises(ValueError, match="unknown Cityscapes label ids"):
        load_label(tmp_path / "m.png")
    image = np.full((2, 3, 3), 100, dtype=np.uint8)
    out = overlay(image, ids, cityscapes_palette())
    assert out[0, 0].tolist() == [114, 82, 114]  # (100 + road (128, 64, 128)) / 2, rounded
    assert out[0, 2].tolist() == [50, 50, 50]  # ignore is black


@pytest.mark.slow
def test_run_round_cold_start_then_round_with_prelabels(tmp_path: Path) -> None:
    from contracts.cityscapes import find_frames
    from models.data.synth.world import generate_world

    world = generate_world(tmp_path / "world", sequences=14, size=(48, 96), seed=1).out
    pool = find_frames(world, "train")
    val = find_frames(world, "val", require_neighbours=False)
    cfg = RoundConfig.from_settings({"preset": "tiny"}, size=(48, 96))
    stages: set[str] = set()

    def progress(stage: str, fraction: float, message: str) -> None:
        assert 0.0 <= fraction <= 1.0
        stages.add(stage)

    cpu = torch.device("cpu")
    unlabeled = list(pool)  # the cold start sees no labels
    r0 = run_round(cfg, [], unlabeled, val, 3, tmp_path / "r0", step=0, device=cpu, progress=progress)
    assert r0.seg_checkpoint is None and math.isnan(r0.miou) and len(set(r0.chosen)) == 3
    assert r0.chosen[0] == int(np.random.RandomState(cfg.seed).permutation(len(pool))[0])  # the seeded image
    assert {"depth_finetune", "score"} <= stages
    labeled = [unlabeled[i] for i in r0.chosen]
    rest = [r for i, r in enumerate(unlabeled) if i not in r0.chosen]
    r1 = run_round(cfg, labeled, rest, val, 3, tmp_path / "r1", step=1, depth_checkpoint=r0.depth_checkpoint,
                   device=cpu, progress=progress)  # fmt: skip
    assert math.isfinite(r1.miou) and 0.0 <= r1.miou <= 1.0
    assert {"train", "eval", "difficulty_student"} <= stages
    assert all(p.index >= 3 and p.difficulty is not None and p.distance > 0 for p in r1.picks)
    assert r1.picks[0].combined == pytest.approx(r1.picks[0].distance + 1000 * r1.picks[0].difficulty)
    # the student's schedule grows with the selection step (method.md §4.2: 4k, 8k, 12k, … iterations)
    assert torch.load(tmp_path / "r1" / "student.pt", weights_only=False)["config"]["iters"] == cfg.student.iters
    student3 = train_student(cfg, labeled, r0.depth_checkpoint, tmp_path / "s3.pt", step=3, device=cpu)
    assert torch.load(student3, weights_only=False)["config"]["iters"] == 3 * cfg.student.iters
    with pytest.raises(RoundInputError, match="step 1 or later"):
        train_student(cfg, labeled, r0.depth_checkpoint, tmp_path / "s0.pt", step=0, device=cpu)
    chosen = [rest[i] for i in r1.chosen]
    ids_paths = [tmp_path / "pl" / f"{k}.png" for k in range(3)]
    rgb_paths = [tmp_path / "pl" / f"{k}_overlay.png" for k in range(3)]
    write_prelabels(r1.seg_checkpoint, [r.image for r in chosen], ids_paths, rgb_paths, size=cfg.size, device=cpu)
    for ids_path, rgb_path in zip(ids_paths, rgb_paths, strict=True):
        ids = np.array(Image.open(ids_path))
        assert ids.shape == (48, 96) and ids.dtype == np.uint8 and ids.max() < 19
        assert np.array(Image.open(rgb_path)).shape == (48, 96, 3)


def test_the_method_student_is_a_dilated_resnet50() -> None:
    """The method's difficulty student: ResNet-50 with layer4 dilated (output stride 16), like its other encoders."""
    from dataclasses import replace

    from models.difficulty import DepthStudent

    cfg = RoundConfig.from_settings({"preset": "method"}).student
    assert cfg.layers == 50 and cfg.dilate_last and cfg.iters == 4000
    feats = DepthStudent(replace(cfg, weights=None)).encoder(torch.rand(1, 3, 64, 64))
    assert feats[-1].shape[-2:] == (4, 4)  # 64 / 16


def test_rounds_train_on_the_methods_square_crops() -> None:
    """The method trains depth, segmentation and the student on 512×512 random crops of 1024×512 images: a square as
    tall as the image, scaled down with the image; scoring and prediction keep whole images."""
    from models.rounds.config import method_crop

    assert method_crop((512, 1024)) == (512, 512) and method_crop((48, 96)) == (48, 48)
    assert method_crop(None) is None and method_crop((64, 64)) is None
    cfg = RoundConfig.from_settings({"preset": "method"}, size=(512, 1024))
    assert cfg.crop == (512, 512) and cfg.student.crop == (512, 512)
    assert RoundConfig.from_settings({"preset": "tiny"}, size=(48, 96)).student.crop == (48, 48)
    assert RoundConfig.from_settings({"preset": "tiny", "student": {"crop": None}}, size=(48, 96)).student.crop is None
