"""Stage 2 of a round: the segmentation model (transfer from depth, mean teacher, DepthMix: method.md §3) with its mIoU
on val, and the difficulty student (§4.2) for strategies that need it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from contracts.cityscapes import FrameRecord
from models.checkpoint import load_checkpoint, save_checkpoint
from models.data.datasets import LabeledDataset, SequenceDataset, UnlabeledDataset
from models.depth_model import load_depth_model
from models.difficulty import train_difficulty_student
from models.progress import Progress, quiet
from models.rounds.config import RoundConfig, RoundInputError
from models.seg_net import config_from_depth
from models.seg_step import normalize_disp
from models.seg_train import train_segmentation


@dataclass(frozen=True)
class SegOutcome:
    checkpoint: Path
    miou: float  # on val; nan without val labels
    per_class: list[float]


def check_labeled(cfg: RoundConfig, labeled: Sequence[FrameRecord]) -> None:
    missing = [r.image for r in labeled if r.label is None]
    if missing:
        raise RoundInputError(f"{len(missing)} labeled image(s) have no mask, first: {missing[0]}")
    if len(labeled) < cfg.min_labeled:
        raise RoundInputError(
            f"training needs at least {cfg.min_labeled} labeled images, the project has {len(labeled)}"
        )


def train_segmentation_model(
    cfg: RoundConfig,
    labeled: Sequence[FrameRecord],
    unlabeled: Sequence[FrameRecord],
    val: Sequence[FrameRecord],
    depth_checkpoint: Path,
    out: Path,
    *,
    device: torch.device,
    progress: Progress = quiet,
) -> SegOutcome:
    """Semi-supervised segmentation (method.md §3): transfer from the depth model, mean teacher, DepthMix with the
    depth model's disparity computed on the fly; the unlabeled stream is the whole pool, labeled images carrying their
    masks (mix_use_gt, §3.3). Evaluates on the val records that have labels. Resumes from `out`."""
    check_labeled(cfg, labeled)
    depth_cfg = load_checkpoint(depth_checkpoint)["config"]
    seg_cfg = replace(cfg.seg, net=config_from_depth(depth_cfg, cfg.seg_variant, cfg.num_classes))
    pool = [*labeled, *unlabeled]
    multitask = cfg.seg_variant == "multitask"
    # the multi-task depth loss goes on the labeled and unlabeled batches (the method) when every image has both
    # neighbour frames, else on a separate batch of the triplets there are
    in_batches = multitask and all(r.prev is not None and r.next is not None for r in pool)
    aug = {"size": cfg.size, "crop": cfg.crop, "flip": True}
    lab_ds = LabeledDataset(list(labeled), neighbours=in_batches, **aug)
    is_labeled = [i < len(labeled) for i in range(len(pool))] if seg_cfg.mix == "depthmix" else None
    unl_ds = UnlabeledDataset(pool, is_labeled=is_labeled, neighbours=in_batches, **aug)
    if seg_cfg.mix != "depthmix":
        unl_ds = UnlabeledDataset(list(unlabeled) or list(labeled), neighbours=in_batches, **aug)
    val_records = [r for r in val if r.label is not None]
    val_ds = LabeledDataset(val_records, size=cfg.size) if val_records else None
    depth_net = None
    if seg_cfg.mean_teacher and seg_cfg.mix == "depthmix" and cfg.seg_variant != "multitask":
        depth_net = load_depth_model(depth_checkpoint, device)[0].requires_grad_(False)
    sequence_ds = None
    if multitask and not in_batches:
        triplets = [r for r in pool if r.prev is not None and r.next is not None]
        sequence_ds = SequenceDataset(triplets, **aug) if triplets else None
    init = None if cfg.seg_variant == "scratch" else depth_checkpoint
    result = train_segmentation(
        seg_cfg, lab_ds, unl_ds if seg_cfg.mean_teacher else None, device=device, init=init, progress=progress,
        checkpoint_path=out, resume=True, val_ds=val_ds, sequence_ds=sequence_ds, depth_net=depth_net,
    )  # fmt: skip
    return SegOutcome(out, float(result.miou), list(result.per_class))


class _TeacherDisp(Dataset):
    """Labeled images (read on demand) with the depth teacher's disp_0, min-max normalised per image (§3.1), as
    "pseudo_disp" (kept in memory as float16: (N, 1, H, W))."""

    def __init__(self, images: Dataset, disp: Tensor) -> None:
        self.images, self.disp = images, disp

    def __len__(self) -> int:
        return self.disp.shape[0]

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"image": self.images[i]["image"], "pseudo_disp": self.disp[i].float()}


def train_student(
    cfg: RoundConfig,
    labeled: Sequence[FrameRecord],
    depth_checkpoint: Path,
    out: Path,
    *,
    step: int,
    device: torch.device,
    progress: Progress = quiet,
) -> Path:
    """Train the difficulty student (method.md §4.2) on the labeled images' teacher disparity; saves it to `out`.

    `step` is the selection step the student serves (1 for the first round with labels, i.e. the round's index): it
    trains `step × cfg.student.iters` iterations, the method's 4k, 8k, 12k, … as its labeled set doubles. The
    teacher's disparities of the labeled set are computed once, in memory (the labeled set is the small one)."""
    if step < 1:
        raise RoundInputError(f"the difficulty student serves selection step 1 or later, not {step}")
    if out.exists():
        return out  # a finished student from an earlier attempt
    teacher = load_depth_model(depth_checkpoint, device)[0]
    images = LabeledDataset(list(labeled), size=cfg.size)
    disps = []
    with torch.no_grad():
        for batch in DataLoader(images, batch_size=cfg.score_batch_size, num_workers=cfg.seg.num_workers):
            disps.append(normalize_disp(teacher.predict_disp(batch["image"].to(device))).half().cpu())
    del teacher
    data = _TeacherDisp(images, torch.cat(disps))
    student_cfg = replace(cfg.student, iters=step * cfg.student.iters)
    student, losses = train_difficulty_student(student_cfg, data, device=device, progress=progress)
    save_checkpoint(out, {"model": student.state_dict(), "config": asdict(student_cfg), "kind": "difficulty_student",
                          "final_loss": losses[-1] if losses else math.nan})  # fmt: skip
    return out
