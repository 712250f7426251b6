"""Difficulty scores on hand-made maps (method.md §4.2, §4.3 step 3) and a tiny student run."""

from __future__ import annotations

import math

import pytest
import torch

from models.difficulty import (
    StudentConfig,
    depth_difficulty,
    difficulty_valid_mask,
    segmentation_entropy,
    student_depth_loss,
    train_difficulty_student,
)


def test_valid_mask_far_dilation_and_ego_rows():
    h, w = 20, 16
    teacher = torch.full((1, 1, h, w), 0.5)
    teacher[0, 0, 5, 8] = 0.01  # one far pixel
    valid = difficulty_valid_mask(teacher)
    want = torch.ones(h, w)
    want[2:9, 5:12] = 0  # 7×7 box centred on (5, 8)
    want[math.floor(0.87 * h) :] = 0  # rows 17, 18, 19
    assert torch.equal(valid[0, 0], want)
    # at the border the box is clipped, and 0.07 itself is not "far"
    teacher = torch.full((1, 1, h, w), 0.07)
    teacher[0, 0, 0, 0] = 0.0699
    valid = difficulty_valid_mask(teacher)[0, 0]
    assert valid[:4, :4].sum() == 0 and valid[4, 4] == 1 and valid[:17].sum() == 17 * 16 - 16


def test_depth_difficulty_values():
    h, w = 20, 10
    teacher = torch.full((2, 1, h, w), 0.5)
    student = teacher.clone()
    student[1] = 1.0
    e = depth_difficulty(student, teacher)
    assert e[0] == 0
    # mean over the FULL map: only the 17 valid rows of 20 contribute
    assert e[1].item() == pytest.approx(abs(math.log(2.0) - math.log(1.5)) * 17 / 20, rel=1e-6)
    # errors only inside far regions or ego-car rows do not count
    teacher = torch.full((1, 1, h, w), 0.5)
    teacher[0, 0, :4, :] = 0.02  # far band, dilated to rows 0..6
    student = teacher.clone()
    student[0, 0, :7, :] = 0.9
    student[0, 0, 17:, :] = 0.9
    assert depth_difficulty(student, teacher).item() == 0.0
    student[0, 0, 7, 0] = 0.9  # one pixel outside the masks
    assert depth_difficulty(student, teacher).item() == pytest.approx(abs(math.log(1.9) - math.log(1.5)) / 200)


def test_segmentation_entropy():
    logits = torch.zeros(2, 4, 3, 5)
    logits[1, 2] = 100.0  # certain everywhere
    ent = segmentation_entropy(logits)
    assert ent[0].item() == pytest.approx(math.log(4))
    assert ent[1].item() == pytest.approx(0.0, abs=1e-6)


def test_student_loss_masks_bottom_rows():
    h = 20
    teacher = torch.full((1, 1, h, 8), 0.4)
    pred = teacher.clone()
    pred[..., 18:, :] = 0.9  # rows ≥ ⌊0.9·20⌋ = 18: ignored
    assert student_depth_loss(pred, teacher).item() == 0.0
    pred[..., 0, 0] = 0.9  # a = 0.5 at one pixel, c = 0.1: (a² + c²) / 2c = 1.3, mean over 160 pixels
    pred[..., 0, 1] = 0.45  # a = 0.05 ≤ c: counted as is
    assert student_depth_loss(pred, teacher).item() == pytest.approx((1.3 + 0.05) / 160, rel=1e-5)


def _pool_batches(n=6, h=32, w=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(n, 3, h, w, generator=g)
    # a teacher disparity that depends on the image (closer where brighter), min-max normalised per image
    disp = image.mean(1, keepdim=True)
    lo, hi = disp.amin((2, 3), keepdim=True), disp.amax((2, 3), keepdim=True)
    disp = (disp - lo) / (hi - lo)
    return image, disp


@pytest.mark.slow
def test_student_training():
    image, disp = _pool_batches()
    data = [{"image": image[i], "pseudo_disp": disp[i], "index": torch.tensor(i)} for i in range(4)]
    cfg = StudentConfig(layers=18, weights=None, dilate_last=False, iters=8, lr=1e-3, crop=(32, 24), seed=3)
    calls = []
    student, losses = train_difficulty_student(cfg, data, device="cpu", progress=lambda *a: calls.append(a))
    assert len(losses) == 8 and all(math.isfinite(x) for x in losses)
    assert sum(losses[-2:]) < sum(losses[:2])  # it learns
    assert not student.training and calls[-1][:2] == ("difficulty_student", 1.0)


def test_student_crops_a_window_per_sample():
    """The method's loader crops each sample on its own (one window per image, not one per batch)."""
    from models.difficulty import _crop_and_flip

    cfg = StudentConfig(crop=(8, 8), flip=False)
    cols = torch.arange(64.0).expand(16, 1, 16, 64)  # each pixel holds its column
    image, disp = _crop_and_flip(cols.expand(16, 3, 16, 64), cols, cfg, torch.Generator().manual_seed(0))
    assert image.shape == (16, 3, 8, 8) and disp.shape == (16, 1, 8, 8)
    assert torch.equal(image[:, :1], disp)  # the same window for image and disparity
    assert len(set(disp[:, 0, 0, 0].tolist())) > 4  # left edges differ between samples
