"""Strong augmentation after mixing (method.md §3.3 step 5)."""

from __future__ import annotations

import torch

from models.augment import blur_kernel_size, gaussian_blur, strong_augment


def test_blur_kernel_size_rule():
    assert blur_kernel_size(512) == 51
    assert blur_kernel_size(1024) == 103
    assert blur_kernel_size(510) == 51  # ⌈51⌉ is odd: kept
    assert blur_kernel_size(64) == 7
    assert all(blur_kernel_size(s) % 2 == 1 for s in range(10, 700))


def test_blur_preserves_constant_and_smooths_edges():
    img = torch.zeros(1, 3, 40, 40)
    img[..., 20:] = 1.0
    out = gaussian_blur(img, sigma=1.0)
    assert out.shape == img.shape
    assert 0.0 < out[0, 0, 5, 19].item() < out[0, 0, 5, 20].item() < 1.0
    torch.testing.assert_close(gaussian_blur(torch.full((1, 3, 40, 40), 0.3), 1.0), torch.full((1, 3, 40, 40), 0.3))


def test_probabilities_of_jitter_and_blur():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    img = torch.rand(2, 3, 24, 24)
    changed = sum(not torch.equal(strong_augment(img, generator=g), img) for _ in range(200))
    # P(neither) = 0.2 · 0.5 = 0.1 → about 180 of 200 changed
    assert 165 <= changed <= 195
    assert torch.equal(strong_augment(img, generator=g, jitter_p=0.0, blur_p=0.0), img)
    out = strong_augment(img, generator=g, jitter_p=1.0, blur_p=0.0)
    assert out.shape == img.shape and out.min() >= 0 and out.max() <= 1


def test_jitter_brightness_adds_like_kornia_0_4():
    """The method's kornia 0.4 `ColorJitter(0.25, …)` ADDS U(−0.25, 0.25) to the brightness. On a grey image (where
    saturation and hue change nothing) a multiplicative brightness (kornia 0.9's `ColorJitter`) keeps every pixel within
    0.2 · [0.75, 1.25] · [0.75, 1.25] = [0.1125, 0.3125]; the additive one takes about a fifth of them below 0.1."""
    from models.augment import color_jitter

    torch.manual_seed(0)
    grey = torch.full((256, 3, 4, 4), 0.2)
    per_sample = color_jitter(grey).mean(dim=(1, 2, 3))  # (256,)
    assert (per_sample < 0.1).float().mean() > 0.1
    assert per_sample.max() > 0.35
