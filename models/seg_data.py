"""Datasets of a segmentation run from a Cityscapes-layout root (real or synthetic): label subset, unlabeled set, val.

The label subset is the method's: the first n of numpy `RandomState(seed).permutation(N)` over the train images
(method.md §5.1). The unlabeled set follows §3.3: DepthMix runs use ALL train images, the labeled ones carrying their
ground truth (`is_labeled`, mix_use_gt); the other modes use only the N − n unlabeled images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset


def label_subset(n_total: int, n_labels: int, seed: int) -> list[int]:
    """Indices of the labeled images: first `n_labels` of RandomState(seed).permutation(n_total)."""
    if not 0 < n_labels <= n_total:
        raise ValueError(f"--labels must be in 1..{n_total} (the number of train images), got {n_labels}")
    return sorted(int(i) for i in np.random.RandomState(seed).permutation(n_total)[:n_labels])


@dataclass
class SegData:
    labeled: Dataset
    unlabeled: Dataset
    val: Dataset | None
    labeled_indices: list[int]


def seg_datasets(
    root: str | Path,
    n_labels: int,
    *,
    seed: int = 0,
    mix: str = "depthmix",
    size: tuple[int, int] | None = None,
    crop: tuple[int, int] | None = None,
    neighbours: bool = False,
) -> SegData:
    """Build the datasets of one run.

    Args:
        root: Cityscapes-layout root with train (labels for every annotated frame) and val splits.
        n_labels: size of the label budget drawn from the train split.
        mix: the run's mix mode; "depthmix" puts the labeled images into the unlabeled stream too (§3.3).
        size: (H, W) resize; crop: (h, w) random training crop (the method: 512×512 of 1024×512); flips p 0.5.
        neighbours: labeled and unlabeled items carry frames t-1, t+1 and K, for the multi-task net's depth loss on
            both batches (the method's placement, §1.6).
    """
    from contracts.cityscapes import find_frames
    from models.data.datasets import LabeledDataset, UnlabeledDataset

    train = find_frames(Path(root), "train", require_neighbours=neighbours)
    idx = label_subset(len(train), n_labels, seed)
    chosen = set(idx)
    aug = {"size": size, "crop": crop, "flip": True, "neighbours": neighbours}
    labeled = LabeledDataset([train[i] for i in idx], **aug)
    if mix == "depthmix" or len(chosen) == len(train):
        unlabeled = UnlabeledDataset(train, is_labeled=[i in chosen for i in range(len(train))], **aug)
    else:
        unlabeled = UnlabeledDataset([r for i, r in enumerate(train) if i not in chosen], **aug)
    val_dir = Path(root) / "leftImg8bit" / "val"
    val = None
    if val_dir.is_dir():
        val_records = [r for r in find_frames(Path(root), "val", require_neighbours=False) if r.label is not None]
        val = LabeledDataset(val_records, size=size) if val_records else None
    return SegData(labeled, unlabeled, val, idx)
