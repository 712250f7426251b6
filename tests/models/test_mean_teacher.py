"""Mean teacher: EMA formula, soft targets with ground truth, confidence-weighted pseudo-label loss (method.md §3.3)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from models.mean_teacher import (
    confidence_weight,
    ema_decay,
    ema_update,
    hard_pseudo_labels,
    make_teacher,
    one_hot_labels,
    pseudo_label_loss,
    soft_targets,
)


def test_ema_decay_schedule():
    assert ema_decay(1) == 0.5
    assert ema_decay(3) == 0.75
    assert ema_decay(99) == pytest.approx(0.99)
    assert ema_decay(100) == 0.99 and ema_decay(10_000) == 0.99
    with pytest.raises(ValueError):
        ema_decay(0)


def test_ema_update_formula_on_parameters_and_buffer_copy():
    student = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    teacher = make_teacher(student)
    assert not any(p.requires_grad for p in teacher.parameters())
    t0 = [p.clone() for p in teacher.parameters()]
    with torch.no_grad():
        for p in student.parameters():
            p.add_(1.0)
    student(torch.randn(4, 2))  # train-mode forward moves the student's BN running stats
    alpha = ema_update(teacher, student, step=3)
    assert alpha == 0.75
    for t_old, t_new, s in zip(t0, teacher.parameters(), student.parameters(), strict=True):
        torch.testing.assert_close(t_new, 0.75 * t_old + 0.25 * s)
    assert torch.equal(teacher[1].running_mean, student[1].running_mean)
    assert teacher[1].num_batches_tracked == student[1].num_batches_tracked == 1
    # the update does not touch the student, nor make it share storage with the teacher
    assert all(p.requires_grad for p in student.parameters())
    assert teacher[0].weight.data_ptr() != student[0].weight.data_ptr()


def test_ema_converges_to_a_fixed_student():
    student, teacher = nn.Linear(3, 1), nn.Linear(3, 1)
    for t in range(1, 600):
        ema_update(teacher, student, t)
    torch.testing.assert_close(teacher.weight, student.weight, atol=1e-2, rtol=0)


def test_one_hot_ignore_is_all_zero():
    oh = one_hot_labels(torch.tensor([[[0, 2, 255]]]), 3)  # (1, 3, 1, 3)
    assert oh[0, :, 0].T.tolist() == [[1, 0, 0], [0, 0, 1], [0, 0, 0]]


def test_soft_targets_replace_teacher_for_labeled_samples_only():
    probs = torch.full((2, 3, 1, 2), 1 / 3)
    label = torch.tensor([[[1, 255]], [[0, 0]]])
    out = soft_targets(probs, label, torch.tensor([True, False]))
    assert out[0, :, 0, 0].tolist() == [0.0, 1.0, 0.0] and out[0, :, 0, 1].sum() == 0
    assert torch.equal(out[1], probs[1])
    p_max, y = hard_pseudo_labels(out)
    assert y[0].tolist() == [[1, 255]]  # the all-zero GT ignore vector becomes label 255


def test_confidence_weight_counts_over_all_pixels():
    p_max = torch.tensor([[[0.99, 0.968, 0.5, 0.0]]])  # last one is an ignore pixel
    assert confidence_weight(p_max).item() == 0.5  # 2 of 4, the ignore pixel stays in the denominator


def test_pseudo_label_loss_value():
    # 4 pixels: two confident (0.99 class 0, GT class 1), one unconfident (class 2), one ignore (all zero)
    probs = torch.zeros(1, 3, 1, 4)
    probs[0, 0, 0, 0] = 0.99
    probs[0, 1, 0, 1] = 1.0
    probs[0, 2, 0, 2] = 0.6
    probs[0, 0, 0, 2] = 0.4
    logits = torch.randn(1, 3, 1, 4)
    loss, w = pseudo_label_loss(logits, probs)
    assert w.item() == 0.5
    ce = -F.log_softmax(logits, 1)[0, [0, 1, 2], 0, [0, 1, 2]]  # CE of the three non-ignored pixels
    assert loss.item() == pytest.approx(0.5 * ce.sum().item() / 4)  # mean over ALL 4 pixels
    loss2, _ = pseudo_label_loss(logits, probs, weight=2.0)
    assert loss2.item() == pytest.approx(2 * loss.item())


def test_pseudo_label_loss_gradient_flows_to_student_only():
    logits = torch.randn(2, 4, 3, 3, requires_grad=True)
    probs = torch.softmax(torch.randn(2, 4, 3, 3) * 10, 1).requires_grad_(True)
    loss, w = pseudo_label_loss(logits, probs)
    loss.backward()
    assert logits.grad is not None and probs.grad is None
    assert 0 < w.item() < 1 and math.isfinite(loss.item())
