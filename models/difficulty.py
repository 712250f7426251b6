"""Difficulty scores for data selection (`method.md` §4.2, §4.3 step 3).

* Depth difficulty: a student depth network is trained from scratch on the labeled images to reproduce the depth
  teacher's pseudo-disparity (BerHu on disp_0, ego-car rows masked). Where the student still disagrees with the
  teacher on an unlabeled image, that image is unlike the labeled set: e_j = mean over the full H×W map of
  |log(1 + d_student) − log(1 + d_teacher)|·valid, valid = 0 on far regions (teacher disparity < 0.07, dilated by a
  7×7 box) and on the ego-car rows (≥ ⌊0.87·H⌋).
* Segmentation entropy, the baseline "ent" criterion: mean per-pixel entropy of the softmax.

The student is the method's "ResNet-50 + dec9" depth network; the segmentation head it also carries in the paper
gets zero loss weight during selection (§4.2), so it is left out here.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from models.checkpoint import load_checkpoint
from models.depth_decoder import DepthDecoder
from models.encoder import ResNetEncoder
from models.losses import berhu_loss
from models.progress import Progress
from models.seg_step import crop_boxes

FAR_DISPARITY = 0.07  # teacher disparity below this is "far / infinite" (sky, cars moving with the ego vehicle)
FAR_DILATION = 7  # 7×7 box dilation of the far mask, padding 3
EGO_ROWS_SCORE = 0.87  # rows ≥ ⌊0.87·H⌋ are ignored when scoring
EGO_ROWS_TRAIN = 0.9  # rows ≥ ⌊0.9·H⌋ are ignored by the student's loss


def ego_rows_mask(like: Tensor, fraction: float) -> Tensor:
    """1 above row ⌊fraction·H⌋, 0 from it down; shape (1, 1, H, 1) broadcasting over (B, 1, H, W)."""
    h = like.shape[-2]
    mask = torch.ones(1, 1, h, 1, dtype=like.dtype, device=like.device)
    mask[:, :, math.floor(fraction * h) :] = 0
    return mask


def difficulty_valid_mask(disp_teacher: Tensor) -> Tensor:
    """(B, 1, H, W) float mask: 0 on dilate([d_teacher < 0.07], 7×7 box) and on rows ≥ ⌊0.87·H⌋, else 1."""
    far = (disp_teacher < FAR_DISPARITY).to(disp_teacher.dtype)
    far = F.max_pool2d(far, FAR_DILATION, stride=1, padding=FAR_DILATION // 2)  # binary dilation with a box
    return (1.0 - far) * ego_rows_mask(disp_teacher, EGO_ROWS_SCORE)


def depth_difficulty(disp_student: Tensor, disp_teacher: Tensor) -> Tensor:
    """Per-image e = mean over all H×W pixels of |log(1+d_s) − log(1+d_t)|·valid (masked pixels count as 0): (B,)."""
    err = (torch.log1p(disp_student.float()) - torch.log1p(disp_teacher.float())).abs()  # (B, 1, H, W)
    return (err * difficulty_valid_mask(disp_teacher.float())).flatten(1).mean(1)


def segmentation_entropy(logits: Tensor) -> Tensor:
    """Per-image mean of the per-pixel entropy −Σ_c p_c log p_c (nats) of softmax(logits (B, C, H, W)): (B,)."""
    logp = torch.log_softmax(logits.float(), dim=1)
    return -(logp.exp() * logp).sum(1).flatten(1).mean(1)


def student_depth_loss(disp_pred: Tensor, disp_teacher: Tensor) -> Tensor:
    """The student's only loss during selection (§4.2): BerHu(disp_0, teacher disp), rows ≥ ⌊0.9·H⌋ masked."""
    mask = ego_rows_mask(disp_teacher, EGO_ROWS_TRAIN).expand_as(disp_teacher)
    return berhu_loss(disp_pred, disp_teacher, mask)


@dataclass(frozen=True)
class StudentConfig:
    """The difficulty student (§4.2): ImageNet ResNet-50 + "dec9", Adam 1e-4, poly 0.9, batch 2, crop 512², flip."""

    layers: int = 50
    weights: str | None = "imagenet"  # encoder init: None, "imagenet" or a file (decoder is always random)
    dilate_last: bool = True  # layer4 dilated, output stride 16, like the method's other encoders
    num_ch_dec: tuple[int, ...] = (64, 64, 128, 128, 256)  # dec9
    batch_norm: bool = True  # dec9: BN in every ConvBlock
    aspp: bool = True
    iters: int = 4000  # per selection step: step k trains k × iters (the method's 4k/8k/…/20k for 25/…/372 labels)
    lr: float = 1e-4
    batch_size: int = 2
    crop: tuple[int, int] | None = (512, 512)  # (h, w); None trains on whole images
    flip: bool = True
    grad_clip: float = 1e5  # the paper's value, i.e. practically none
    amp: bool = True  # CUDA only
    seed: int = 0


class DepthStudent(nn.Module):
    """Encoder + depth decoder predicting only disp_0 (B, 1, H, W), built from scratch for each selection step."""

    def __init__(self, cfg: StudentConfig) -> None:
        super().__init__()
        self.encoder = ResNetEncoder(cfg.layers, cfg.dilate_last, weights=cfg.weights)
        self.decoder = DepthDecoder(self.encoder.channels, cfg.num_ch_dec, (0,), cfg.aspp, cfg.batch_norm)

    def forward(self, image: Tensor) -> Tensor:
        x, _ = self.decoder.run_stages(self.encoder(image))
        return self.decoder.disp(0, x)  # (B, 1, H, W)


def _crop_and_flip(image: Tensor, disp: Tensor, cfg: StudentConfig, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """A random crop window and a horizontal flip per sample, the same for image (B, 3, H, W) and disp (B, 1, H, W)."""
    if cfg.crop is not None:
        b, (h, w) = image.shape[0], image.shape[-2:]
        ch, cw = min(cfg.crop[0], h), min(cfg.crop[1], w)
        y = torch.randint(0, h - ch + 1, (b,), generator=gen)
        x = torch.randint(0, w - cw + 1, (b,), generator=gen)
        boxes = torch.stack([y, x, torch.full_like(y, ch), torch.full_like(x, cw)], dim=1)  # (B, 4)
        image, disp = crop_boxes(image, boxes), crop_boxes(disp, boxes)
    if cfg.flip:
        flip = (torch.rand(image.shape[0], generator=gen) < 0.5).to(image.device)[:, None, None, None]
        image = torch.where(flip, image.flip(-1), image)
        disp = torch.where(flip, disp.flip(-1), disp)
    return image, disp


def train_difficulty_student(
    cfg: StudentConfig,
    labeled: Dataset | DataLoader,
    *,
    device: str | torch.device,
    progress: Progress | None = None,
) -> tuple[DepthStudent, list[float]]:
    """Train a fresh student on the labeled images' teacher pseudo-disparity (§4.2) for `cfg.iters` iterations.

    Args:
        cfg: architecture and schedule.
        labeled: items (or batches) with "image" (3, H, W) and "pseudo_disp" (1, H, W), the teacher's disp_0
            min-max normalised per image (`models.data.batch.UnlabeledBatch`).
        device: where to train; AMP (float16 autocast + GradScaler) only on CUDA when `cfg.amp`.
        progress: progress("difficulty_student", fraction, message).

    Returns:
        The student (eval mode) and its loss per iteration.
    """
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    device = torch.device(device)
    loader = labeled if isinstance(labeled, DataLoader) else DataLoader(
        labeled, batch_size=cfg.batch_size, shuffle=True, drop_last=len(labeled) >= cfg.batch_size, generator=gen,
    )  # fmt: skip
    student = DepthStudent(cfg).to(device).train()
    opt = torch.optim.Adam(student.parameters(), lr=cfg.lr)
    # poly schedule of the paper: factor max(1e-6, (1 − it/max_iter)^0.9)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: max(1e-6, (1 - it / cfg.iters) ** 0.9))
    use_amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    losses: list[float] = []
    batches = itertools.chain.from_iterable(itertools.repeat(loader))
    for it in range(cfg.iters):
        batch: dict[str, Any] = next(batches)
        image, disp_t = _crop_and_flip(batch["image"].to(device), batch["pseudo_disp"].to(device), cfg, gen)
        ctx = torch.autocast("cuda", dtype=torch.float16) if use_amp else contextlib.nullcontext()
        with ctx:
            disp = student(image)
        loss = student_depth_loss(disp.float(), disp_t.float())
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        nn.utils.clip_grad_norm_(student.parameters(), cfg.grad_clip)
        scaler.step(opt)
        scaler.update()
        sched.step()
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(
                "difficulty_student", (it + 1) / cfg.iters, f"iteration {it + 1}/{cfg.iters} loss {losses[-1]:.4f}"
            )
    return student.eval(), losses


def load_student(path: Path, device: torch.device) -> DepthStudent:
    """A trained student from its checkpoint (`models.rounds.train.train_student`), in eval mode on `device`."""
    blob = load_checkpoint(path, device)
    config = {k: tuple(v) if isinstance(v, list) else v for k, v in blob["config"].items()}
    student = DepthStudent(replace(StudentConfig(**config), weights=None))
    student.load_state_dict(blob["model"])
    return student.to(device).eval()
