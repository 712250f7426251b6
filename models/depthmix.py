"""Mix masks for the mean-teacher consistency loss: DepthMix, ClassMix and "no mix" (method.md §3.2).

Every mask is a bool tensor (B, H, W), True where sample i keeps its OWN pixel ("base"); elsewhere the pixel of its
partner `partner[i]` is pasted in. `mix` applies one mask identically to images (B, 3, H, W) and to per-pixel label
distributions (B, C, H, W: teacher soft-max or ground-truth one-hot), which is what keeps pseudo-labels aligned with
the mixed image.

Pairing: the method only mixes batches of two, sample 0 with 1 and 1 with 0 (method.md §8 quirk 10). We pair each
sample with another through a derangement drawn as a random cycle (`partner_permutation`); for B = 2 the only
derangement is (1, 0), so the paper's pairing is reproduced exactly.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from models.data.batch import IGNORE_INDEX

DEPTHMIX_MARGIN = 0.03  # `depthcomp_margin` (method.md §3.2)


def partner_permutation(batch_size: int, *, generator: torch.Generator | None = None, device=None) -> Tensor:
    """Index of each sample's mixing partner: a random single cycle, so no sample is paired with itself (B ≥ 2).

    A random order σ is drawn and σ[k] is paired with σ[k + 1 mod B]. For B = 2 this is always [1, 0], the paper's
    pairing; for B = 1 the sample is its own partner and every mix is the identity.
    """
    order = torch.randperm(batch_size, generator=generator).to(device)  # (B,)
    partner = torch.empty_like(order)
    partner[order] = order.roll(-1)
    return partner


def _squeeze_channel(disp: Tensor) -> Tensor:
    if disp.dim() == 4:
        if disp.shape[1] != 1:
            raise ValueError(f"disparity must have one channel, got shape {tuple(disp.shape)}")
        return disp[:, 0]  # (B, H, W)
    if disp.dim() != 3:
        raise ValueError(f"disparity must be (B, 1, H, W) or (B, H, W), got shape {tuple(disp.shape)}")
    return disp


def depthmix_mask(disp_base: Tensor, disp_other: Tensor, margin: float = DEPTHMIX_MARGIN) -> Tensor:
    """DepthMix mask ("depthcomp", method.md §3.2): keep the base pixel unless the other image is closer by > margin.

    Args:
        disp_base: per-image min–max normalised disparity of the base images, (B, 1, H, W) or (B, H, W);
            larger = closer.
        disp_other: the same for the images pasted onto them (already permuted to line up with the base).
        margin: near-ties |d_base − d_other| ≤ margin keep the base, so road at equal distance is not mixed with road.

    Returns:
        bool (B, H, W), True where the base pixel is kept: d_base ≥ d_other − margin. The method's foreground
        threshold is 0 on disparities in [0, 1], i.e. always true, so it is left out.
    """
    base, other = _squeeze_channel(disp_base), _squeeze_channel(disp_other)
    if base.shape != other.shape:
        raise ValueError(f"disparity shapes differ: {tuple(base.shape)} vs {tuple(other.shape)}")
    return base >= other - margin


def classmix_mask(
    classes: Tensor, *, generator: torch.Generator | None = None, ignore_index: int = IGNORE_INDEX
) -> Tensor:
    """ClassMix mask (method.md §3.2 "class"): per image, keep the pixels of ⌊n/2⌋ of its n present classes.

    Args:
        classes: (B, H, W) int class map of the base images (the teacher's arg-max); `ignore_index` never counts as
            a class.
        generator: source of the random class choice (without replacement).

    Returns:
        bool (B, H, W), True where the pixel's class is among the chosen ones (the base pixel is kept).
    """
    masks = []
    for cls_map in classes:  # (H, W) per image: the chosen classes differ per image
        present = torch.unique(cls_map)
        present = present[present != ignore_index]
        n_pick = present.numel() // 2
        pick = torch.randperm(present.numel(), generator=generator)[:n_pick].to(present.device)
        masks.append(torch.isin(cls_map, present[pick]))
    return torch.stack(masks)  # (B, H, W)


def mix(x: Tensor, keep_base: Tensor, partner: Tensor) -> Tensor:
    """x̃_i = M_i · x_i + (1 − M_i) · x_partner[i] for images (B, 3, H, W) or label distributions (B, C, H, W).

    Soft-max maps are mixed per pixel, not re-normalised: a mixed-in all-zero (ignore) vector stays all-zero.
    """
    if keep_base.shape != (x.shape[0], *x.shape[-2:]):
        raise ValueError(f"mask {tuple(keep_base.shape)} does not fit tensor {tuple(x.shape)}")
    return torch.where(keep_base.unsqueeze(1), x, x[partner])  # (B, C, H, W)


# A mask function receives everything any mode may need and returns the keep-base mask (B, H, W).
#   disp: (B, 1, H, W) normalised disparity (DepthMix), classes: (B, H, W) teacher arg-max (ClassMix).
MaskFn = Callable[..., Tensor]


def _no_mix(*, classes: Tensor, **_: object) -> Tensor:
    return torch.ones_like(classes, dtype=torch.bool)  # (B, H, W): every sample keeps itself


def _classmix(*, classes: Tensor, generator: torch.Generator | None = None, **_: object) -> Tensor:
    return classmix_mask(classes, generator=generator)


def _depthmix(*, disp: Tensor | None, partner: Tensor, margin: float = DEPTHMIX_MARGIN, **_: object) -> Tensor:
    if disp is None:
        raise ValueError("depthmix needs a disparity map (precomputed pseudo-depth or the student's online depth)")
    return depthmix_mask(disp, disp[partner], margin)


MIX_MASKS: dict[str, MaskFn] = {"none": _no_mix, "classmix": _classmix, "depthmix": _depthmix}


def make_mix_mask(
    mode: str,
    *,
    classes: Tensor,
    partner: Tensor,
    disp: Tensor | None = None,
    margin: float = DEPTHMIX_MARGIN,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Look up `mode` in `MIX_MASKS` and build the keep-base mask (B, H, W) for one batch."""
    if mode not in MIX_MASKS:
        raise ValueError(f"unknown mix mode {mode!r}; choose one of {sorted(MIX_MASKS)}")
    return MIX_MASKS[mode](classes=classes, partner=partner, disp=disp, margin=margin, generator=generator)
