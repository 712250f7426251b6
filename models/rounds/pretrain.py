"""Stage 1 of a round: self-supervised depth pretraining (method.md §2) when the project has no depth model yet."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from contracts.cityscapes import FrameRecord
from models.data.datasets import SequenceDataset
from models.depth_train import train_depth
from models.progress import Progress, quiet
from models.rounds.config import RoundConfig, RoundInputError


def pretrain_depth(
    cfg: RoundConfig, records: Sequence[FrameRecord], out: Path, *, device: torch.device, progress: Progress = quiet
) -> Path:
    """Self-supervised depth pretraining (method.md §2) on the records that have both neighbour frames: the
    service passes every stored frame triplet of the project's sequences, not only the pool's images.

    Resumes from `out` when it exists (a crashed worker continues from the last checkpoint). Returns `out`."""
    triplets = [r for r in records if r.prev is not None and r.next is not None]
    if len(triplets) < cfg.depth.batch_size:
        raise RoundInputError(f"depth pretraining needs at least {cfg.depth.batch_size} images with both neighbour "
                              f"frames (t-1, t+1); the project has {len(triplets)} (sequence frames and pool "
                              "images with neighbours)")  # fmt: skip
    data = SequenceDataset(triplets, size=cfg.size, crop=cfg.crop, flip=True, seed=cfg.seed)
    train_depth(cfg.depth, data, device=device, progress=progress, checkpoint_path=out, resume=True)
    return out
