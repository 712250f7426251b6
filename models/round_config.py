"""Configuration of one active-learning round (`models.active_round`): presets and project-settings parsing.

A round's sizes and iteration counts come from a *preset* plus optional per-part overrides, so the same plain dict
works as a project's `settings` JSON in the service, as benchmark arguments, and in tests:

    {"strategy": "diversity+difficulty",      # models.strategies.STRATEGIES key
     "preset": "small",                       # "tiny" (CI), "small" (CPU demo), "method" (the paper, GPU)
     "seed": 0,
     "device": "auto",                        # "auto" | "cpu" | "cuda" (a GPU-only setting: "cuda")
     "depth": {"finetune_iters": 300},        # models.depth_model.DepthConfig fields
     "seg": {"iterations": 200, "mix": "depthmix", "variant": "transfer"},  # SegTrainConfig fields (+ variant)
     "student": {"iters": 100},               # models.difficulty.StudentConfig fields
     "score_batch_size": 4}

The segmentation network's encoder/decoder always follow the depth checkpoint it transfers from
(`models.seg_net.config_from_depth`); only its variant and class count are chosen here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from models.depth_model import DepthConfig
from models.difficulty import StudentConfig
from models.seg_train import SegTrainConfig
from models.strategies import DIFFICULTY_WEIGHT

STRATEGY_NAMES = ("random", "entropy", "diversity", "difficulty", "diversity+difficulty")
PRESETS = ("tiny", "small", "method")
DEVICES = ("auto", "cpu", "cuda")
TINY_DECODER = (16, 16, 32, 32, 64)  # decoder widths of the "tiny" preset (the method: 64, 128, 128, 256, 256)


def _depth_preset(name: str) -> DepthConfig:
    if name == "method":
        return DepthConfig()  # ResNet-101 dilated, ImageNet init, 300k frozen + 100k fine-tuning (method.md §2.4)
    if name == "tiny":  # CI-sized: a few iterations of a narrow decoder, enough to exercise every code path
        return DepthConfig.small(finetune_iters=4, batch_size=2, num_ch_dec=TINY_DECODER, checkpoint_every=2)
    return DepthConfig.small(finetune_iters=400, checkpoint_every=100)


def _seg_preset(name: str) -> SegTrainConfig:
    if name == "method":
        return SegTrainConfig()  # 40k iterations, batch 2 + 2, DepthMix, mean teacher (method.md §3.4)
    if name == "tiny":
        return SegTrainConfig(iterations=4, checkpoint_every=1)
    return SegTrainConfig(iterations=300, checkpoint_every=50)


def _student_preset(name: str) -> StudentConfig:
    if name == "method":
        return StudentConfig()  # ResNet-50 + dec9, ImageNet init, Adam 1e-4, crop 512² (method.md §4.2)
    if name == "tiny":
        return StudentConfig(layers=18, weights=None, iters=2, crop=None, num_ch_dec=TINY_DECODER)
    return StudentConfig(layers=18, weights=None, iters=150, crop=None)


@dataclass(frozen=True)
class RoundConfig:
    """Everything a round needs besides its data. Build it with `RoundConfig.from_settings`.

    Attributes:
        strategy: selection strategy name (`models.strategies.STRATEGIES`).
        size: (H, W) every image is resized to for training, scoring and prediction; None keeps file sizes.
        num_classes: segmentation classes (train ids 0..num_classes-1, 255 = ignore).
        seed: seeds training, the cold-start image (π_s[0], method.md §4.3) and random selection.
        device: "auto" (CUDA when available), "cpu" or "cuda" (GPU-only: a clear error without a GPU).
        depth: depth pretraining, used only when the round gets no depth checkpoint.
        seg: segmentation training; `seg.net` is replaced by the depth checkpoint's architecture at train time.
        seg_variant: "transfer" (method exp 210) or "multitask" (exp 212) or "scratch".
        student: the difficulty student (method.md §4.2).
        score_batch_size: images per batch in the scoring and prediction passes.
        min_labeled: fewest labeled images a training round accepts.
        difficulty_weight: λ of "diversity+difficulty" (score = feature distance + λ·difficulty); the method's 1000
            was tuned for its 8192-D features and 4k-iteration student (docs/selection.md, "Choosing λ").
    """

    strategy: str = "diversity+difficulty"
    size: tuple[int, int] | None = None
    num_classes: int = 19
    seed: int = 0
    device: str = "auto"
    depth: DepthConfig = field(default_factory=lambda: _depth_preset("small"))
    seg: SegTrainConfig = field(default_factory=lambda: _seg_preset("small"))
    seg_variant: str = "transfer"
    student: StudentConfig = field(default_factory=lambda: _student_preset("small"))
    score_batch_size: int = 4
    min_labeled: int = 2
    difficulty_weight: float = DIFFICULTY_WEIGHT

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGY_NAMES:
            raise ValueError(f"unknown selection strategy {self.strategy!r}; known: {', '.join(STRATEGY_NAMES)}")
        if self.device not in DEVICES:
            raise ValueError(f"unknown device setting {self.device!r}; use one of {', '.join(DEVICES)}")
        if not self.difficulty_weight >= 0:  # (also refuses NaN)
            raise ValueError(f"difficulty_weight must be a number ≥ 0, got {self.difficulty_weight!r}")

    @property
    def needs_difficulty(self) -> bool:
        return self.strategy in ("difficulty", "diversity+difficulty")

    @classmethod
    def from_settings(
        cls, settings: dict[str, Any] | None, *, size: tuple[int, int] | None = None, num_classes: int = 19
    ) -> RoundConfig:
        """Parse a project's `settings` JSON (module docstring). Unknown keys are errors that name the key."""
        s = dict(settings or {})
        preset = s.pop("preset", "small")
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; use one of {', '.join(PRESETS)}")
        seed = int(s.pop("seed", 0))
        seg_over = dict(s.pop("seg", {}) or {})
        variant = seg_over.pop("variant", "transfer")
        cfg = cls(
            strategy=s.pop("strategy", "diversity+difficulty"),
            size=size,
            num_classes=num_classes,
            seed=seed,
            device=s.pop("device", "auto"),
            depth=_override(_depth_preset(preset), s.pop("depth", {}), "depth", seed=seed),
            seg=_override(_seg_preset(preset), seg_over, "seg", seed=seed),
            seg_variant=variant,
            student=_override(_student_preset(preset), s.pop("student", {}), "student", seed=seed),
            score_batch_size=int(s.pop("score_batch_size", 4)),
            min_labeled=int(s.pop("min_labeled", 2)),
            difficulty_weight=_number(s.pop("difficulty_weight", DIFFICULTY_WEIGHT), "difficulty_weight"),
        )
        s.pop("score_shard_size", None)  # read by the worker (pool sharding), not by the models
        if s:
            raise ValueError(f"unknown project setting(s) {sorted(s)}; known: strategy, preset, seed, device, "
                             "depth, seg, student, score_batch_size, min_labeled, difficulty_weight, "
                             "score_shard_size")  # fmt: skip
        return cfg


def _number(value: Any, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None


def _override(base: Any, overrides: dict[str, Any], what: str, *, seed: int) -> Any:
    known = {f.name for f in fields(base)} - {"net"}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"unknown {what} setting(s) {sorted(unknown)}; known: {', '.join(sorted(known))}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    values.setdefault("seed", seed)
    return replace(base, **values)
