"""The losses of one semi-supervised segmentation iteration (method.md §3.3), as plain functions.

`supervised_loss` is step 1; `consistency_loss` is steps 2–7 (teacher → soft targets with ground truth → mix mask
from depth or classes → mix → strong augmentation → student → confidence-weighted pseudo-label loss).
`models.seg_train` strings them together with the optimiser and the EMA update.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.augment import strong_augment
from models.data.batch import IGNORE_INDEX, UnlabeledBatch
from models.depthmix import DEPTHMIX_MARGIN, make_mix_mask, mix, partner_permutation
from models.mean_teacher import CONFIDENCE_THRESHOLD, hard_pseudo_labels, pseudo_label_loss, soft_targets


def supervised_loss(out: dict, label: Tensor, ignore_index: int = IGNORE_INDEX) -> Tensor:
    """CE over non-ignored pixels; with a side output (multi-task) (CE(final) + CE(side)) / 2 (method.md §1.5).

    The side logits (B, C, H/4, W/4) are upsampled bilinearly with align_corners=True, as the method's loss does.
    """
    loss = F.cross_entropy(out["seg"].float(), label, ignore_index=ignore_index)
    if "seg_side" in out:
        side = F.interpolate(out["seg_side"].float(), size=label.shape[-2:], mode="bilinear", align_corners=True)
        loss = (loss + F.cross_entropy(side, label, ignore_index=ignore_index)) / 2
    return loss


def normalize_disp(disp: Tensor, eps: float = 1e-8) -> Tensor:
    """Per-image min–max normalisation of disparities (B, 1, H, W) to [0, 1] (method.md §3.1)."""
    flat = disp.flatten(1)  # (B, H·W)
    lo, hi = flat.min(1).values, flat.max(1).values
    return (disp - lo.view(-1, 1, 1, 1)) / (hi - lo).clamp_min(eps).view(-1, 1, 1, 1)


@dataclass(frozen=True)
class ConsistencyOptions:
    """What the consistency part of a step does; filled from the training config."""

    mix: str = "depthmix"  # "none" | "classmix" | "depthmix" (models.depthmix.MIX_MASKS)
    margin: float = DEPTHMIX_MARGIN
    threshold: float = CONFIDENCE_THRESHOLD
    weight: float = 1.0  # consistency_weight
    strong_aug: bool = True
    online_depth: bool = False  # DepthMix disparity from the student's own depth head (multi-task), not pseudo_disp
    teacher_train_mode: bool = True  # the method's quirk: dropout and batch-stat BN active in the teacher (§8 quirk 2)


def mixing_disp(
    ubatch: UnlabeledBatch, student: nn.Module, opts: ConsistencyOptions, depth_net: nn.Module | None
) -> Tensor | None:
    """Normalised disparity (B, 1, H, W) for DepthMix, or None when the mode needs none.

    Sources, in order: the student's depth head on the unaugmented images (`online_depth`, §3.1 exp 212); the
    batch's precomputed `pseudo_disp` (exp 210); a frozen depth network's disp_0 computed on the fly (same as the
    precomputed maps without their 8-bit rounding).
    """
    if opts.mix != "depthmix":
        return None
    image = ubatch["image"]
    if opts.online_depth:
        with torch.no_grad():
            disp = student(image)["disp"][0].float()  # (B, 1, H, W), detached
        return normalize_disp(disp)
    if "pseudo_disp" in ubatch:
        return ubatch["pseudo_disp"].float()
    if depth_net is not None:
        with torch.no_grad():
            return normalize_disp(depth_net(image)["disp"][0].float())
    raise ValueError("depthmix needs pseudo_disp in the unlabeled batches, a depth network, or online_depth")


def crop_boxes(t: Tensor, boxes: Tensor) -> Tensor:
    """Each sample's window: t (B, ..., H, W), boxes (B, 4) rows (y1, x1, h, w), all of one h×w → (B, ..., h, w)."""
    return torch.stack([t[i, ..., y : y + h, x : x + w] for i, (y, x, h, w) in enumerate(boxes.tolist())])


def cut_crops(ubatch: UnlabeledBatch, disp: Tensor | None) -> tuple[UnlabeledBatch, Tensor | None]:
    """The batch's training crops (`crop_box`, from `UnlabeledDataset` with `crop`) cut out of its whole images,
    labels and disparity: DepthMix's disparity is inferred and normalised on the whole image first (method.md §3.1)."""
    boxes = ubatch["crop_box"]
    cut = {k: crop_boxes(v, boxes) for k, v in ubatch.items() if k in ("image", "label", "pseudo_disp", "prev", "next")}
    rest = {k: v for k, v in ubatch.items() if k not in cut and k != "crop_box"}
    if "K" in rest:  # the principal point moves with the window's corner
        K = rest["K"].clone()
        K[:, 0, 2] -= boxes[:, 1].to(K)
        K[:, 1, 2] -= boxes[:, 0].to(K)
        rest.update(K=K, inv_K=torch.linalg.inv(K))
    return UnlabeledBatch(**rest, **cut), None if disp is None else crop_boxes(disp, boxes)


def consistency_loss(
    student: nn.Module,
    teacher: nn.Module,
    ubatch: UnlabeledBatch,
    opts: ConsistencyOptions,
    *,
    generator: torch.Generator | None = None,
    depth_net: nn.Module | None = None,
    autocast: AbstractContextManager | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """Steps 2–7 of method.md §3.3 on one unlabeled batch. Returns (L_u, {"confidence": w, "mixed": share pasted})."""
    autocast = autocast or nullcontext()
    cropped_disp = None
    if "crop_box" in ubatch:
        # a frozen depth net or precomputed maps see the whole image; a student's own depth head sees the crop below
        whole_disp = None if opts.online_depth else mixing_disp(ubatch, student, opts, depth_net)
        ubatch, cropped_disp = cut_crops(ubatch, whole_disp)
    image = ubatch["image"]  # (B, 3, H, W)
    teacher.train(opts.teacher_train_mode)
    with torch.no_grad(), autocast:
        probs = torch.softmax(teacher(image)["seg"].float(), dim=1)  # (B, C, H, W)
    targets = soft_targets(probs, ubatch.get("label"), ubatch.get("is_labeled"))
    _, classes = hard_pseudo_labels(targets)  # (B, H, W), 255 where a GT ignore vector was put in
    disp = cropped_disp if cropped_disp is not None else mixing_disp(ubatch, student, opts, depth_net)
    partner = partner_permutation(image.shape[0], generator=generator, device=image.device)
    keep = make_mix_mask(opts.mix, classes=classes, partner=partner, disp=disp, margin=opts.margin, generator=generator)
    mixed_image = mix(image, keep, partner)
    mixed_targets = mix(targets, keep, partner)
    if opts.strong_aug:
        mixed_image = strong_augment(mixed_image, generator=generator)
    with autocast:
        logits = student(mixed_image)["seg"]
    loss, w = pseudo_label_loss(logits, mixed_targets, threshold=opts.threshold, weight=opts.weight)
    return loss, {"confidence": float(w), "mixed": float(1.0 - keep.float().mean())}


def sde_batch_loss(net: nn.Module, pose_net: nn.Module, batch: dict, disps: dict[int, Tensor] | None = None) -> Tensor:
    """Self-supervised depth loss of the multi-task net on one batch with frames t-1, t, t+1 and K (method.md §1.6
    exp 212, §2.2): a `SequenceBatch`, or a labeled / unlabeled batch built with `neighbours`.

    Network inputs are the `*_aug` frames where the batch has them (a `SequenceBatch`), else the frames themselves
    (the method's labeled and unlabeled batches: unjittered); the photometric targets are always the unaugmented
    frames. `disps` reuses the disparities of a forward the caller already ran on that input. Poses for the source
    frames −1 and +1 come from the pose network on temporally ordered pairs (§1.3).
    """
    from models.geometry import pose_vec_to_matrix
    from models.losses import sde_loss

    image, prev, nxt = (batch.get(f"{k}_aug", batch[k]) for k in ("image", "prev", "next"))
    if disps is None:
        disps = net(image)["disp"]
    aa_prev, t_prev = pose_net(prev, image)
    aa_next, t_next = pose_net(image, nxt)
    poses = {  # geometry and photometric loss in float32, as the depth training does
        -1: pose_vec_to_matrix(aa_prev.float(), t_prev.float(), invert=True),
        1: pose_vec_to_matrix(aa_next.float(), t_next.float(), invert=False),
    }
    sources = {-1: batch["prev"], 1: batch["next"]}
    disps = {s: d.float() for s, d in disps.items()}
    loss, _ = sde_loss(disps, poses, batch["image"], sources, batch["K"], batch["inv_K"])
    return loss
