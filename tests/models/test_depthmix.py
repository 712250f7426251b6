"""DepthMix / ClassMix masks and mixing on hand-made maps (method.md §3.2)."""

from __future__ import annotations

import pytest
import torch

from models.depthmix import (
    MIX_MASKS,
    classmix_mask,
    depthmix_mask,
    make_mix_mask,
    mix,
    partner_permutation,
)
from models.mean_teacher import one_hot_labels


def test_closer_pixel_wins_and_near_ties_keep_base():
    # base vs other disparity (larger = closer), one row of 5 pixels
    base = torch.tensor([[[0.9, 0.10, 0.50, 0.50, 0.50]]])  # (1, 1, 5)
    other = torch.tensor([[[0.1, 0.90, 0.52, 0.53, 0.54]]])
    keep = depthmix_mask(base, other)
    # base much closer → keep; other much closer → paste; +0.02, +0.03 within margin → keep; +0.04 → paste
    assert keep.tolist() == [[[True, False, True, True, False]]]
    assert keep.dtype == torch.bool and keep.shape == (1, 1, 5)


def test_margin_is_respected_and_zero_margin_is_a_plain_comparison():
    base = torch.full((1, 1, 2, 2), 0.4)
    other = torch.tensor([[[[0.4, 0.45], [0.55, 0.6]]]])
    assert depthmix_mask(base, other, margin=0.1).tolist() == [[[True, True], [False, False]]]
    assert depthmix_mask(base, other, margin=0.0).tolist() == [[[True, False], [False, False]]]
    # equal disparities keep the base for every margin ≥ 0
    assert depthmix_mask(base, base, margin=0.0).all()


def test_both_mixed_images_keep_their_base_in_the_margin_band():
    d = torch.tensor([[[0.50, 0.2, 0.8]], [[0.52, 0.8, 0.2]]])  # (2, 1, 3)
    partner = partner_permutation(2)
    assert partner.tolist() == [1, 0]  # the paper's pairing for B = 2
    keep = make_mix_mask("depthmix", classes=torch.zeros(2, 1, 3, dtype=torch.long), partner=partner, disp=d)
    # M1 is not 1 − M0: the near-tie column keeps the base in both images
    assert keep.tolist() == [[[True, False, True]], [[True, True, False]]]


def test_images_and_label_distributions_are_mixed_with_the_same_mask():
    img = torch.stack([torch.zeros(3, 2, 2), torch.ones(3, 2, 2)])  # (2, 3, 2, 2): black / white
    label = torch.tensor([[[0, 0], [255, 0]], [[1, 1], [1, 1]]])  # (2, 2, 2)
    disp = torch.tensor([[[0.9, 0.1], [0.9, 0.1]], [[0.1, 0.9], [0.1, 0.9]]])  # (2, 2, 2)
    partner = partner_permutation(2)
    keep = depthmix_mask(disp, disp[partner])
    mixed_img = mix(img, keep, partner)
    mixed_lab = mix(one_hot_labels(label, 3), keep, partner)  # (2, 3, 2, 2)
    # image 0 keeps its left column (closer) and takes image 1's right column
    assert mixed_img[0, 0].tolist() == [[0.0, 1.0], [0.0, 1.0]]
    assert mixed_img[1, 0].tolist() == [[0.0, 1.0], [0.0, 1.0]]
    # the label distribution follows the image pixel for pixel: white pixels are class 1, black pixels class 0
    assert torch.equal(mixed_lab[:, 1] == 1, mixed_img[:, 0] == 1)
    assert mixed_lab[0, :, 0, 0].tolist() == [1.0, 0.0, 0.0]
    assert mixed_lab[0, :, 0, 1].tolist() == [0.0, 1.0, 0.0]
    # image 0's ignore pixel (1, 0) stays an all-zero vector where it is kept (in image 0) and where it is pasted
    assert mixed_lab[0, :, 1, 0].sum() == 0 and mixed_lab[1, :, 1, 0].sum() == 0


def test_mix_keeps_all_zero_ignore_vectors():
    probs = torch.zeros(2, 3, 1, 2)
    probs[1, 2] = 1.0  # image 1 is class 2 everywhere, image 0 is "ignore" everywhere
    keep = torch.tensor([[[True, False]], [[True, True]]])
    out = mix(probs, keep, torch.tensor([1, 0]))
    assert out[0, :, 0, 0].sum() == 0 and out[0, :, 0, 1].tolist() == [0.0, 0.0, 1.0]


@pytest.mark.parametrize("b", [1, 2, 3, 5, 8])
def test_partner_permutation_is_a_derangement(b):
    g = torch.Generator().manual_seed(b)
    for _ in range(20):
        p = partner_permutation(b, generator=g)
        assert sorted(p.tolist()) == list(range(b))
        if b > 1:
            assert (p != torch.arange(b)).all()


def test_accepts_b1hw_and_bhw_and_rejects_bad_shapes():
    a = torch.rand(3, 1, 4, 5)
    assert torch.equal(depthmix_mask(a, a.flip(0)), depthmix_mask(a[:, 0], a.flip(0)[:, 0]))
    with pytest.raises(ValueError):
        depthmix_mask(torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4))
    with pytest.raises(ValueError):
        depthmix_mask(torch.rand(2, 4, 4), torch.rand(2, 4, 5))


def test_classmix_keeps_half_the_present_classes_per_image():
    cls = torch.tensor([[[0, 1, 2, 3], [255, 255, 0, 1]], [[5, 5, 5, 5], [5, 5, 5, 255]]])  # (2, 2, 4)
    g = torch.Generator().manual_seed(0)
    keep = classmix_mask(cls, generator=g)
    kept0 = set(cls[0][keep[0]].tolist())
    assert len(kept0) == 2 and kept0 <= {0, 1, 2, 3}  # ⌊4/2⌋ classes, never the ignore index
    # every pixel of a chosen class is kept, none of the others
    for c in range(4):
        assert keep[0][cls[0] == c].all() if c in kept0 else not keep[0][cls[0] == c].any()
    assert not keep[0][cls[0] == 255].any()
    assert not keep[1].any()  # one class present → ⌊1/2⌋ = 0 chosen → image fully replaced


def test_mix_modes_by_name():
    assert set(MIX_MASKS) == {"none", "classmix", "depthmix"}
    cls = torch.zeros(2, 3, 3, dtype=torch.long)
    assert make_mix_mask("none", classes=cls, partner=torch.tensor([1, 0])).all()
    with pytest.raises(ValueError, match="depthmix needs"):
        make_mix_mask("depthmix", classes=cls, partner=torch.tensor([1, 0]))
    with pytest.raises(ValueError, match="unknown mix mode"):
        make_mix_mask("cutmix", classes=cls, partner=torch.tensor([1, 0]))
