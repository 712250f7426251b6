"""Configuration of one active-learning round: presets, and the one function that turns a project's settings
(`contracts.settings.ProjectSettings`, validated by the API) into the models' configurations.

A preset sizes a round ("tiny": CI, "small": the CPU demo, "method": the method's networks and schedules, for a
GPU); the settings' `depth`, `seg` and `student` objects override single fields of the preset's configuration. The
segmentation network's encoder/decoder always follow the depth checkpoint it transfers from
(`models.seg_net.config_from_depth`); only its variant and class count are chosen here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from contracts.settings import DIFFICULTY_WEIGHT, Device, Preset, ProjectSettings, SegVariant
from contracts.strategies import DEFAULT_STRATEGY, StrategyName
from models.depth_model import DepthConfig
from models.difficulty import StudentConfig
from models.seg_train import SegTrainConfig
from models.strategies import STRATEGIES

TINY_DECODER = (16, 16, 32, 32, 64)  # decoder widths of the "tiny" preset (the method: 64, 128, 128, 256, 256)


class RoundInputError(ValueError):
    """Input a round cannot work with (too few images, a bad checkpoint); the message says which."""


def _depth_preset(name: Preset) -> DepthConfig:
    if name == "method":
        return DepthConfig()  # ResNet-101 dilated, ImageNet init, 300k frozen + 100k fine-tuning (method.md §2.4)
    if name == "tiny":  # CI-sized: a few iterations of a narrow decoder, enough to exercise every code path
        return DepthConfig.small(finetune_iters=4, batch_size=2, num_ch_dec=TINY_DECODER, checkpoint_every=2)
    return DepthConfig.small(finetune_iters=400, checkpoint_every=100)


def _seg_preset(name: Preset) -> SegTrainConfig:
    if name == "method":
        return SegTrainConfig()  # 40k iterations, batch 2 + 2, DepthMix, mean teacher (method.md §3.4)
    if name == "tiny":
        return SegTrainConfig(iterations=4, checkpoint_every=1)
    return SegTrainConfig(iterations=300, checkpoint_every=50)


def _student_preset(name: Preset) -> StudentConfig:
    if name == "method":
        return StudentConfig()  # ResNet-50 + dec9, ImageNet init, Adam 1e-4, crop 512² (method.md §4.2)
    if name == "tiny":
        return StudentConfig(layers=18, weights=None, dilate_last=False, iters=2, crop=None, num_ch_dec=TINY_DECODER)
    return StudentConfig(layers=18, weights=None, dilate_last=False, iters=150, crop=None)


def method_crop(size: tuple[int, int] | None) -> tuple[int, int] | None:
    """The training crop (h, w) for images resized to `size`: the method trains on 512×512 random crops of its
    1024×512 images (method.md §2.1, §3.3, §4.2), a square as tall as the image, so smaller sizes get a smaller
    square. None (whole images) when the size is not fixed or the image is taller than wide."""
    if size is None or size[1] <= size[0]:
        return None
    return (size[0], size[0])


@dataclass(frozen=True)
class RoundConfig:
    """Everything a round needs besides its data. Build it with `RoundConfig.from_settings`.

    Attributes:
        strategy: the selection strategy (`models.strategies.STRATEGIES`).
        size: (H, W) every image is resized to for training, scoring and prediction; None keeps file sizes.
        crop: (h, w) random crop of every training batch (depth, segmentation, the multi-task depth batch, the
            student), `method_crop(size)`; scoring and prediction see whole images.
        num_classes: segmentation classes (train ids 0..num_classes-1, 255 = ignore).
        seed: seeds training, the cold-start image (π_s[0], method.md §4.3) and random selection.
        device: "auto" (CUDA when available), "cpu" or "cuda" (`models.device.resolve_device`).
        depth: depth pretraining, used only when the round gets no depth checkpoint.
        seg: segmentation training; `seg.net` is replaced by the depth checkpoint's architecture at train time.
        seg_variant: "transfer" (method exp 210) or "multitask" (exp 212) or "scratch".
        student: the difficulty student (method.md §4.2).
        score_batch_size: images per batch in the scoring and prediction passes.
        min_labeled: fewest labeled images a training round accepts.
        difficulty_weight: λ of "diversity+difficulty" (score = feature distance + λ·difficulty); the method's 1000
            was tuned for its 8192-D features and 4k-iteration student (docs/selection.md, "Choosing λ").
    """

    strategy: StrategyName = DEFAULT_STRATEGY
    size: tuple[int, int] | None = None
    crop: tuple[int, int] | None = None
    num_classes: int = 19
    seed: int = 0
    device: Device = "auto"
    depth: DepthConfig = field(default_factory=lambda: _depth_preset("small"))
    seg: SegTrainConfig = field(default_factory=lambda: _seg_preset("small"))
    seg_variant: SegVariant = "transfer"
    student: StudentConfig = field(default_factory=lambda: _student_preset("small"))
    score_batch_size: int = 4
    min_labeled: int = 2
    difficulty_weight: float = DIFFICULTY_WEIGHT

    @property
    def needs_difficulty(self) -> bool:
        return STRATEGIES[self.strategy].needs_difficulty

    @classmethod
    def from_settings(
        cls,
        settings: ProjectSettings | Mapping[str, Any] | None,
        *,
        size: tuple[int, int] | None = None,
        num_classes: int = 19,
    ) -> RoundConfig:
        """A project's settings → the round's configuration. A mapping is validated as `ProjectSettings` first (a
        pydantic ValidationError, a ValueError, names a bad key)."""
        s = settings if isinstance(settings, ProjectSettings) else ProjectSettings.model_validate(settings or {})
        seg = s.seg.values()
        variant = seg.pop("variant", "transfer")
        crop = method_crop(size)
        return cls(
            strategy=s.strategy,
            size=size,
            crop=crop,
            num_classes=num_classes,
            seed=s.seed,
            device=s.device,
            depth=_override(_depth_preset(s.preset), s.depth.values(), seed=s.seed),
            seg=_override(_seg_preset(s.preset), seg, seed=s.seed),
            seg_variant=variant,
            student=_override(replace(_student_preset(s.preset), crop=crop), s.student.values(), seed=s.seed),
            score_batch_size=s.score_batch_size,
            min_labeled=s.min_labeled,
            difficulty_weight=s.difficulty_weight,
        )


def _override(base: Any, overrides: dict[str, Any], *, seed: int) -> Any:
    """The preset's configuration with the lead's fields; the project's seed unless the lead set one here."""
    return replace(base, **{"seed": seed, **overrides})
