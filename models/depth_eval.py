"""Depth evaluation against true depth (the synthetic world's): abs-rel, sq-rel, RMSE, RMSE-log, δ thresholds.

Monocular depth is only defined up to scale, so by default each image's prediction is multiplied by
median(gt) / median(pred) over its valid pixels (monodepth2's protocol). Under median scaling every constant map
scores the same, the per-image median of the truth: `constant_depth` is that "best constant depth" baseline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor

from models.data.batch import DepthEvalBatch
from models.depth_model import DepthModel
from models.geometry import disp_to_depth

METRICS = ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3")  # a_k = fraction with δ < 1.25^k
DepthFn = Callable[[Tensor], Tensor]  # image (B, 3, H, W) → depth (B, 1, h, w)


def depth_errors(gt: Tensor, pred: Tensor) -> dict[str, float]:
    """Errors between two 1-D tensors of valid depths (metres)."""
    thresh = torch.maximum(gt / pred, pred / gt)
    diff = gt - pred
    return {
        "abs_rel": (diff.abs() / gt).mean().item(),
        "sq_rel": (diff**2 / gt).mean().item(),
        "rmse": diff.pow(2).mean().sqrt().item(),
        "rmse_log": (gt.log() - pred.log()).pow(2).mean().sqrt().item(),
        "a1": (thresh < 1.25).float().mean().item(),
        "a2": (thresh < 1.25**2).float().mean().item(),
        "a3": (thresh < 1.25**3).float().mean().item(),
    }


@torch.no_grad()
def evaluate_depth(
    predict_depth: DepthFn,
    batches: Iterable[DepthEvalBatch],
    *,
    device: str | torch.device,
    min_depth: float = 1e-3,
    max_depth: float = 80.0,
    median_scaling: bool = True,
) -> dict[str, float]:
    """Mean of per-image errors over all images; pixels with gt outside (min_depth, max_depth) are ignored (0 = none).

    Predictions are resized bilinearly to the truth's size, median-scaled per image, then clipped to
    [min_depth, max_depth]. The result also holds `n_images` and `median_ratio` (mean scale factor applied).
    """
    sums = dict.fromkeys(METRICS, 0.0)
    ratios: list[float] = []
    n = 0
    for batch in batches:
        image = batch["image"].to(device)
        gt = batch["depth_gt"].to(device).float()  # (B, 1, H, W)
        pred = predict_depth(image).float()
        pred = F.interpolate(pred, size=gt.shape[-2:], mode="bilinear", align_corners=False)
        for g, p in zip(gt, pred, strict=True):
            valid = (g > min_depth) & (g < max_depth)
            if not valid.any():
                continue
            g, p = g[valid], p[valid]
            n += 1
            if median_scaling:
                ratio = g.median() / p.median()
                ratios.append(ratio.item())
                p = p * ratio
            errors = depth_errors(g, p.clamp(min_depth, max_depth))
            for k in METRICS:
                sums[k] += errors[k]
    if n == 0:
        raise ValueError("no image with valid ground-truth depth")
    out = {k: v / n for k, v in sums.items()}
    out["n_images"] = float(n)
    out["median_ratio"] = sum(ratios) / n if ratios else 1.0
    return out


def model_depth(model: DepthModel, min_depth: float = 0.1, max_depth: float = 100.0) -> DepthFn:
    """The depth model as a DepthFn (eval mode): depth from the full-resolution disparity (method.md §2.2)."""
    model.eval()

    def predict(image: Tensor) -> Tensor:
        return disp_to_depth(model.predict_disp(image), min_depth, max_depth)[1]

    return predict


def constant_depth(image: Tensor) -> Tensor:
    """The best constant depth under median scaling: any constant (here 1) becomes the image's gt median."""
    return image.new_ones(image.shape[0], 1, *image.shape[-2:])
