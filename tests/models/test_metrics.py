"""Confusion-matrix mIoU on hand-made cases (method.md §5.1)."""

from __future__ import annotations

import math

import pytest
import torch

from models.metrics import ConfusionMatrix, confusion_matrix, mean_iou


def test_perfect_prediction_gives_one_and_absent_classes_are_nan():
    t = torch.tensor([[0, 0, 1], [1, 2, 2]])
    miou, per = mean_iou(t.clone(), t, num_classes=5)
    assert miou == 1.0
    assert per[:3].tolist() == [1.0, 1.0, 1.0] and per[3:].isnan().all()


def test_hand_made_confusion():
    target = torch.tensor([0, 0, 0, 0, 1, 1, 2, 255, 255])
    pred = torch.tensor([0, 0, 1, 1, 1, 0, 3, 2, 0])
    cm = confusion_matrix(pred, target, num_classes=4)
    assert cm.tolist() == [[2, 2, 0, 0], [1, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    miou, per = mean_iou(pred, target, num_classes=4)
    # class 0: TP 2, FP 1, FN 2 → 2/5; class 1: TP 1, FP 2, FN 1 → 1/4; class 2: TP 0, FN 1 → 0; class 3: FP 1 → 0
    assert per.tolist() == pytest.approx([0.4, 0.25, 0.0, 0.0])
    assert miou == pytest.approx((0.4 + 0.25) / 4)


def test_ignore_pixels_do_not_count_even_when_predicted():
    target = torch.tensor([1, 255, 255, 255])
    pred = torch.tensor([1, 0, 0, 2])
    miou, per = mean_iou(pred, target, num_classes=3)
    # classes 0 and 2 appear only at ignored pixels → absent from both → NaN, skipped in the mean
    assert miou == 1.0 and per[0].isnan() and per[2].isnan()


def test_class_only_in_prediction_counts_as_zero():
    target = torch.tensor([0, 0])
    pred = torch.tensor([0, 1])
    miou, per = mean_iou(pred, target, num_classes=2)
    assert per.tolist() == pytest.approx([0.5, 0.0]) and miou == pytest.approx(0.25)


def test_all_ignored_gives_nan():
    miou, per = mean_iou(torch.zeros(3, dtype=torch.long), torch.full((3,), 255), num_classes=2)
    assert math.isnan(miou) and per.isnan().all()


def test_accumulator_equals_one_shot_over_all_pixels():
    g = torch.Generator().manual_seed(0)
    preds = [torch.randint(0, 4, (2, 5, 6), generator=g) for _ in range(3)]
    targets = [torch.randint(0, 5, (2, 5, 6), generator=g) for _ in range(3)]
    targets = [torch.where(t == 4, 255, t) for t in targets]
    acc = ConfusionMatrix(4)
    for p, t in zip(preds, targets, strict=True):
        acc.update(p, t)
    miou, per = acc.compute()
    ref, ref_per = mean_iou(torch.cat(preds), torch.cat(targets), 4)
    assert miou == pytest.approx(ref) and torch.allclose(per, ref_per, equal_nan=True)
    # averaging per-batch mIoUs would differ from the pooled confusion matrix in general
    acc.reset()
    assert acc.matrix.sum() == 0


def test_shape_mismatch_and_bad_prediction_ids_raise():
    with pytest.raises(ValueError):
        mean_iou(torch.zeros(2, 3, dtype=torch.long), torch.zeros(3, 2, dtype=torch.long), 2)
    with pytest.raises(ValueError):
        mean_iou(torch.tensor([5]), torch.tensor([0]), 2)
