"""The batch dicts that datasets yield and training loops consume, documented once and typed.

Shapes: B = batch size, H×W = network input size, S = number of depth scales (4). Images are RGB float in [0, 1];
the encoder applies the method's normalisation itself. Labels are Cityscapes train ids (0..18), 255 = ignore.
"""

from __future__ import annotations

from typing import TypedDict

from torch import Tensor

IGNORE_INDEX = 255


class SequenceBatch(TypedDict):
    """Frame triplets (t-1, t, t+1) for self-supervised depth."""

    image: Tensor  # (B, 3, H, W) frame t, unaugmented: the photometric loss target
    prev: Tensor  # (B, 3, H, W) frame t-1, unaugmented: warped into t by the loss
    next: Tensor  # (B, 3, H, W) frame t+1, unaugmented
    image_aug: Tensor  # (B, 3, H, W) frame t, colour-augmented: network input only
    prev_aug: Tensor  # (B, 3, H, W) same jitter as image_aug (pose-network input)
    next_aug: Tensor  # (B, 3, H, W)
    K: Tensor  # (B, 4, 4) intrinsics in pixels of this H×W (crop offset and flip applied)
    inv_K: Tensor  # (B, 4, 4)
    K_pyramid: Tensor  # (B, S, 4, 4) K for scale s: first two rows divided by 2**s
    index: Tensor  # (B,) int64 position of the sample in its dataset


class DepthEvalBatch(TypedDict):
    """Frames with true depth (synthetic world) for depth evaluation."""

    image: Tensor  # (B, 3, H, W)
    depth_gt: Tensor  # (B, 1, H, W) metres, 0 where no depth is defined (sky)
    index: Tensor  # (B,)


class LabeledBatch(TypedDict, total=False):
    """Images with ground-truth masks; with `neighbours` also their frames t-1, t+1 and intrinsics (the multi-task
    net's depth loss on this batch, method.md §1.6), unaugmented."""

    image: Tensor  # (B, 3, H, W)
    label: Tensor  # (B, H, W) int64 train ids, 255 = ignore
    index: Tensor  # (B,)
    prev: Tensor  # (B, 3, H, W) frame t-1, same resize / crop / flip
    next: Tensor  # (B, 3, H, W) frame t+1
    K: Tensor  # (B, 4, 4) intrinsics in pixels of this H×W
    inv_K: Tensor  # (B, 4, 4)


class UnlabeledBatch(TypedDict, total=False):
    """Images without masks (mean teacher, DepthMix). Optional keys depend on the dataset's options."""

    image: Tensor  # (B, 3, H, W)
    index: Tensor  # (B,)
    label: Tensor  # (B, H, W) ground truth where is_labeled, else all 255 (the method's mix_use_gt)
    is_labeled: Tensor  # (B,) bool
    pseudo_disp: Tensor  # (B, 1, H, W) precomputed disparity of the depth model, min-max normalised per image
    crop_box: Tensor  # (B, 4) int64 (y1, x1, h, w): the training crop, cut out by the step (image etc. stay whole)
    prev: Tensor  # (B, 3, H, W) with `neighbours`: frame t-1 (whole, like image, until the crop is cut)
    next: Tensor  # (B, 3, H, W) frame t+1
    K: Tensor  # (B, 4, 4) intrinsics of the whole flipped image; cutting the crop shifts them
    inv_K: Tensor  # (B, 4, 4)
