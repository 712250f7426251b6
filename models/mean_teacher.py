"""Mean teacher: EMA teacher, soft targets and the confidence-weighted pseudo-label loss (method.md §3.3).

BN buffers: the method averages parameters only (§3.3 step 9) and runs the teacher in train mode (§8 quirk 2), so
its forward uses batch statistics and its running statistics never matter. We do the same for the parameters, and
copy the student's buffers (BN running mean/var, batch counters) into the teacher at each update. In the faithful
train-mode teacher this changes nothing; it makes the teacher usable in eval mode (an option of the training loop)
with statistics that belong to nearly the same weights, instead of the stale ones from its initial copy.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.data.batch import IGNORE_INDEX

EMA_MAX_DECAY = 0.99
CONFIDENCE_THRESHOLD = 0.968  # pseudo-label confidence for the per-batch weight (method.md §3.3 step 7)


def ema_decay(step: int, max_decay: float = EMA_MAX_DECAY) -> float:
    """α_t = min(1 − 1/(t + 1), 0.99) for the 1-based iteration t (method.md §3.3 step 9)."""
    if step < 1:
        raise ValueError(f"the EMA step counter is 1-based, got {step}")
    return min(1.0 - 1.0 / (step + 1), max_decay)


def make_teacher(student: nn.Module) -> nn.Module:
    """A frozen deep copy of the student (the teacher starts equal to it)."""
    teacher = copy.deepcopy(student)
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, step: int, max_decay: float = EMA_MAX_DECAY) -> float:
    """θ_T ← α_t θ_T + (1 − α_t) θ_S over all parameters; buffers copied from the student. Returns α_t."""
    alpha = ema_decay(step, max_decay)
    t_params, s_params = list(teacher.parameters()), list(student.parameters())
    if len(t_params) != len(s_params):
        raise ValueError("teacher and student have different parameter lists")
    for t_p, s_p in zip(t_params, s_params, strict=True):
        t_p.lerp_(s_p.detach(), 1.0 - alpha)  # θ_T + (1 − α)(θ_S − θ_T) = α θ_T + (1 − α) θ_S
    for t_buf, s_buf in zip(teacher.buffers(), student.buffers(), strict=True):
        t_buf.copy_(s_buf)
    return alpha


def one_hot_labels(label: Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX) -> Tensor:
    """(B, H, W) int labels → (B, C, H, W) float one-hot; ignore pixels become all-zero vectors."""
    valid = (label >= 0) & (label < num_classes) & (label != ignore_index)
    onehot = F.one_hot(torch.where(valid, label, 0).long(), num_classes)  # (B, H, W, C)
    onehot = onehot * valid.unsqueeze(-1)
    return onehot.permute(0, 3, 1, 2).float()  # (B, C, H, W)


def soft_targets(teacher_probs: Tensor, label: Tensor | None = None, is_labeled: Tensor | None = None) -> Tensor:
    """Teacher soft-max (B, C, H, W), with ground-truth one-hot for the samples flagged `is_labeled` (mix_use_gt).

    Args:
        teacher_probs: (B, C, H, W) soft-max of the teacher.
        label: (B, H, W) ground truth (255 = ignore) for labeled samples; anything for the others.
        is_labeled: (B,) bool.
    """
    if label is None or is_labeled is None or not bool(is_labeled.any()):
        return teacher_probs
    gt = one_hot_labels(label, teacher_probs.shape[1]).to(teacher_probs.dtype)  # (B, C, H, W)
    return torch.where(is_labeled.view(-1, 1, 1, 1).to(teacher_probs.device), gt, teacher_probs)


def hard_pseudo_labels(probs: Tensor, ignore_index: int = IGNORE_INDEX) -> tuple[Tensor, Tensor]:
    """(p_max (B, H, W), ŷ (B, H, W) int64) of class distributions; ŷ = ignore where the vector is all zero."""
    p_max, y = probs.max(dim=1)
    return p_max, torch.where(p_max > 0, y, torch.full_like(y, ignore_index))


def confidence_weight(p_max: Tensor, threshold: float = CONFIDENCE_THRESHOLD) -> Tensor:
    """Share of ALL B·H·W pixels with p_max ≥ threshold (one scalar per batch; ignore pixels count as not confident)."""
    return (p_max >= threshold).float().mean()


def pseudo_label_loss(
    student_logits: Tensor,
    mixed_probs: Tensor,
    *,
    threshold: float = CONFIDENCE_THRESHOLD,
    weight: float = 1.0,
    ignore_index: int = IGNORE_INDEX,
) -> tuple[Tensor, Tensor]:
    """L_u = weight · mean over all B·H·W pixels of w · CE(logits, ŷ) (method.md §3.3 step 7, §8 quirk 3).

    Args:
        student_logits: (B, C, H, W) student output on the mixed, strongly augmented images.
        mixed_probs: (B, C, H, W) mixed teacher soft-max / one-hot; all-zero vectors mean "ignore".

    Returns:
        (loss, w): w is the confidence share, returned for logging. Ignored pixels add 0 to the sum but stay in the
        denominator.
    """
    p_max, y = hard_pseudo_labels(mixed_probs.detach(), ignore_index)
    w = confidence_weight(p_max, threshold)
    ce = F.cross_entropy(student_logits.float(), y, ignore_index=ignore_index, reduction="none")  # (B, H, W)
    return weight * (w * ce).mean(), w
