"""Confusion-matrix mIoU (method.md §5.1).

Pixels whose ground truth is outside 0 ≤ gt < num_classes (the ignore index 255 included) are dropped;
IoU_c = TP / (TP + FP + FN); mIoU is the mean over classes whose union is non-empty (absent from both prediction and
ground truth ⇒ NaN, skipped).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from models.data.batch import IGNORE_INDEX


def confusion_matrix(pred: Tensor, target: Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX) -> Tensor:
    """(num_classes, num_classes) int64 counts, rows = ground truth, columns = prediction.

    `ignore_index` is named for clarity; every target outside [0, num_classes) is dropped, as in the method.
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    pred, target = pred.reshape(-1).long(), target.reshape(-1).long()  # (N,)
    valid = (target >= 0) & (target < num_classes) & (target != ignore_index)
    if ((pred[valid] < 0) | (pred[valid] >= num_classes)).any():
        raise ValueError(f"prediction holds class ids outside [0, {num_classes})")
    flat = target[valid] * num_classes + pred[valid]  # (N_valid,) row-major cell index
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def iou_from_confusion(cm: Tensor) -> tuple[float, Tensor]:
    """(mIoU, per-class IoU (C,) float64 with NaN where the class is absent from both prediction and target)."""
    cm = cm.double()
    tp = cm.diagonal()
    union = cm.sum(0) + cm.sum(1) - tp  # TP + FP + FN
    per_class = torch.where(union > 0, tp / union.clamp_min(1), torch.full_like(tp, math.nan))
    present = ~per_class.isnan()
    miou = float(per_class[present].mean()) if present.any() else math.nan
    return miou, per_class


def mean_iou(pred: Tensor, target: Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX) -> tuple[float, Tensor]:
    """mIoU of class maps `pred` and `target` (same shape, int) → (mIoU, per-class IoU with NaN for absent classes)."""
    return iou_from_confusion(confusion_matrix(pred, target, num_classes, ignore_index))


class ConfusionMatrix:
    """Accumulates a confusion matrix over batches (evaluation over a loader), on the tensors' device."""

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def update(self, pred: Tensor, target: Tensor) -> None:
        cm = confusion_matrix(pred, target, self.num_classes, self.ignore_index)
        self.matrix = self.matrix.to(cm.device) + cm

    def compute(self) -> tuple[float, Tensor]:
        """(mIoU, per-class IoU) of everything seen so far."""
        return iou_from_confusion(self.matrix.cpu())

    def reset(self) -> None:
        self.matrix.zero_()
