"""Strong augmentation of the mixed images (method.md §3.3 step 5): colour jitter (p 0.8), then Gaussian blur (p 0.5).

Applied to IMAGES only, after mixing; the mixed label distributions are never jittered or blurred. Each of the two
coin flips is one draw per step for the whole batch, as in the method; the jitter parameters are drawn per sample.
Colour jitter is kornia's `ColorJiggle(0.25, 0.25, 0.25, 0.25)`: the method called kornia 0.4.0's `ColorJitter` with
these arguments, and `ColorJiggle` is that class under its new name. Brightness ADDS U(−0.25, 0.25) to the image;
kornia 0.9's `ColorJitter` multiplies by U(0.75, 1.25) instead, a change at most half as large for a mid-grey pixel
(docs/method.md §10). Contrast and saturation multiply, hue turns by U(−0.25, 0.25) of a full turn, in both.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

JITTER_P = 0.8
BLUR_P = 0.5
JITTER_STRENGTH = 0.25
BLUR_SIGMA = (0.15, 1.15)


def blur_kernel_size(size: int) -> int:
    """Odd kernel length ≈ 10% of `size`: k = ⌊⌈0.1·S⌉ − 0.5 + (⌈0.1·S⌉ mod 2)⌋ (51 for S = 512)."""
    c = math.ceil(0.1 * size)
    return int(math.floor(c - 0.5 + (c % 2)))


def _uniform(generator: torch.Generator | None, low: float = 0.0, high: float = 1.0) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def color_jitter(images: Tensor, strength: float = JITTER_STRENGTH) -> Tensor:
    """Per-sample brightness/contrast/saturation/hue jitter of RGB images in [0, 1], (B, 3, H, W)."""
    from kornia.augmentation import ColorJiggle

    jitter = ColorJiggle(strength, strength, strength, strength, p=1.0)
    return jitter(images.float()).to(images.dtype)  # kornia draws its per-sample parameters from torch's global RNG


def gaussian_blur(images: Tensor, sigma: float) -> Tensor:
    """Gaussian blur with the method's per-axis kernel size (≈ 10% of height and of width) and one σ, reflect border."""
    from kornia.filters import gaussian_blur2d

    kh, kw = blur_kernel_size(images.shape[-2]), blur_kernel_size(images.shape[-1])
    # kornia's reflect padding needs the pad (k // 2) to be smaller than the side: true for k ≈ 0.1·S up to tiny S
    return gaussian_blur2d(images.float(), (kh, kw), (sigma, sigma)).to(images.dtype)


def strong_augment(
    images: Tensor,
    *,
    generator: torch.Generator | None = None,
    jitter_p: float = JITTER_P,
    blur_p: float = BLUR_P,
) -> Tensor:
    """Colour jitter with probability `jitter_p`, then Gaussian blur (σ ~ U(0.15, 1.15)) with probability `blur_p`.

    Args:
        images: (B, 3, H, W) mixed RGB images in [0, 1].
        generator: drives the two coin flips and σ (the jitter's own parameters come from kornia's global RNG).
    """
    out = images
    if _uniform(generator) < jitter_p:
        out = color_jitter(out)
    if _uniform(generator) < blur_p:
        out = gaussian_blur(out, _uniform(generator, *BLUR_SIGMA))
    return out
