"""A whole round in one process, in the worker's stage order: what the benchmarks loop over (the same code as the
worker's stages, without HTTP, database or queue)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from contracts.cityscapes import FrameRecord
from models.device import resolve_device
from models.features import load_features
from models.progress import Progress, quiet
from models.rounds.config import RoundConfig, RoundInputError
from models.rounds.pretrain import pretrain_depth
from models.rounds.score import create_raw_features, feature_dim, score_range, standardise_features
from models.rounds.select import Pick, select
from models.rounds.train import train_segmentation_model, train_student


@dataclass
class RoundOutcome:
    """What `run_round` did: the checkpoints it used or wrote, val mIoU (nan at cold start), and the picks
    (indices into `unlabeled`)."""

    depth_checkpoint: Path
    seg_checkpoint: Path | None
    miou: float
    per_class: list[float]
    picks: list[Pick]
    chosen: list[int]


def run_round(
    cfg: RoundConfig,
    labeled: Sequence[FrameRecord],
    unlabeled: Sequence[FrameRecord],
    val: Sequence[FrameRecord],
    batch_size: int,
    work_dir: Path,
    *,
    step: int,
    depth_checkpoint: Path | None = None,
    device: torch.device | None = None,
    progress: Progress = quiet,
) -> RoundOutcome:
    """The whole round in one process, in the worker's stage order: [pretrain depth] → [train + student] → score →
    select. `step` is the round's index (0: the cold start), which sets the student's schedule. Files go to
    `work_dir` (depth.pt, seg.pt, student.pt, features.npy). Pre-labels are left to the caller
    (`models.prelabel.write_prelabels`). This is what the label-efficiency benchmark loops over."""
    device = device or resolve_device(cfg.device)
    work_dir.mkdir(parents=True, exist_ok=True)
    pool = [*labeled, *unlabeled]
    if batch_size < 1 or batch_size > len(unlabeled):
        raise RoundInputError(f"a batch of {batch_size} needs that many unlabeled images; there are {len(unlabeled)}")
    if depth_checkpoint is None:
        depth_checkpoint = pretrain_depth(cfg, pool, work_dir / "depth.pt", device=device, progress=progress)
    seg_ckpt = student_ckpt = None
    miou, per_class = math.nan, []
    if labeled:
        outcome = train_segmentation_model(cfg, labeled, unlabeled, val, depth_checkpoint, work_dir / "seg.pt",
                                           device=device, progress=progress)  # fmt: skip
        seg_ckpt, miou, per_class = outcome.checkpoint, outcome.miou, outcome.per_class
        if cfg.needs_difficulty:
            student_ckpt = train_student(cfg, labeled, depth_checkpoint, work_dir / "student.pt", step=step,
                                         device=device, progress=progress)  # fmt: skip
    raw = work_dir / "features.raw.npy"
    create_raw_features(raw, len(pool), feature_dim(depth_checkpoint))
    scores = score_range(cfg, pool, 0, len(pool), depth_checkpoint, raw, student_checkpoint=student_ckpt,
                         seg_checkpoint=seg_ckpt, device=device, progress=progress)  # fmt: skip
    features = load_features(standardise_features(raw, work_dir / "features.npy"))
    picks = select(cfg.strategy, len(labeled), batch_size, cfg.seed, features=features,
                   difficulty=scores.difficulty if student_ckpt else None,
                   entropy=scores.entropy if seg_ckpt else None, difficulty_weight=cfg.difficulty_weight)  # fmt: skip
    return RoundOutcome(depth_checkpoint, seg_ckpt, miou, per_class, picks, [p.index - len(labeled) for p in picks])
