"""Self-supervised depth pretraining as a plain function (method.md §2, schedule §2.4).

Phase 1 (`cfg.frozen_iters`): encoder frozen (requires_grad False only: its BN layers stay in train mode and keep
updating running statistics, §8 quirk 8), Adam `cfg.lr`, ×0.1 at `cfg.lr_step`. Phase 2 (`cfg.finetune_iters`):
encoder re-loaded from its pretrained weights, everything trainable, fresh Adam at `cfg.finetune_lr`, plus the
feature-distance loss to a frozen copy of those weights (§2.3). Checkpoints carry the config and resume mid-run.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from models.checkpoint import load_checkpoint, save_checkpoint
from models.data.batch import SequenceBatch
from models.depth_model import DepthConfig, DepthModel
from models.encoder import ResNetEncoder
from models.losses import feature_distance_loss, sde_loss
from models.progress import Progress

log = logging.getLogger(__name__)

STAGES = {1: "depth_frozen_encoder", 2: "depth_finetune"}


@dataclass
class DepthTrainResult:
    """What `train_depth` hands back: the trained model (train mode, on `device`) and this call's loss history."""

    model: DepthModel
    step: int  # iterations done in total, including those before a resume
    losses: list[float] = field(default_factory=list)  # total loss per iteration run by this call


def train_depth(
    cfg: DepthConfig,
    data: Dataset | DataLoader,
    *,
    device: str | torch.device,
    progress: Progress | None = None,
    checkpoint_path: str | Path | None = None,
    resume: bool = True,
) -> DepthTrainResult:
    """Train the depth model on `SequenceBatch` data for `cfg.total_iters` iterations.

    Args:
        cfg: architecture and schedule.
        data: a dataset yielding SequenceBatch items (batched here with `cfg.batch_size`, shuffled, drop_last
            because the ASPP pooling branch's BatchNorm needs 2+ samples) or a ready DataLoader (cycled).
        device: where to train; float16 autocast is used only when it is CUDA and `cfg.amp`.
        progress: called every `cfg.log_every` iterations and at the end; raising from it stops training (the
            last checkpoint stays valid), which is how a worker cancels a job.
        checkpoint_path: written every `cfg.checkpoint_every` iterations, at the phase change and at the end.
        resume: continue from `checkpoint_path` when it exists (its config must match `cfg`).

    Seeds torch's global generator with `cfg.seed` (model init, tie noise), so a run is reproducible on one machine.
    """
    device = torch.device(device)
    torch.manual_seed(cfg.seed)
    use_amp = cfg.amp and device.type == "cuda"
    model = DepthModel(cfg).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    pretrained_encoder = copy.deepcopy(model.encoder.state_dict()) if cfg.weights else None
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp)

    step, ckpt = 0, None
    if checkpoint_path is not None and resume and Path(checkpoint_path).exists():
        ckpt = load_checkpoint(checkpoint_path, device)
        if DepthConfig.from_dict(ckpt["config"]) != cfg:
            raise ValueError(f"{checkpoint_path} was written with a different config; pass resume=False to restart")
        model.load_state_dict(ckpt["model"])
        step = int(ckpt["step"])
        log.info("resuming depth training at iteration %d/%d", step, cfg.total_iters)

    phase = 0
    optimizer: torch.optim.Optimizer | None = None
    reference: ResNetEncoder | None = None
    batches = _batches(cfg, data)
    losses: list[float] = []
    t0 = time.perf_counter()
    model.train()
    while step < cfg.total_iters:
        if _phase_of(cfg, step) != phase:
            phase = _phase_of(cfg, step)
            resumed_here = ckpt is not None and ckpt.get("phase") == phase
            if phase == 2 and pretrained_encoder is not None and not resumed_here:
                model.encoder.load_state_dict(pretrained_encoder)  # fresh BN statistics, as the method's phase 2
            optimizer = _optimizer(cfg, model, phase)
            reference = _reference_encoder(cfg, model, pretrained_encoder, device) if phase == 2 else None
            if resumed_here:
                optimizer.load_state_dict(ckpt["optimizer"])
                scaler.load_state_dict(ckpt["scaler"])
            ckpt = None
        assert optimizer is not None
        for group in optimizer.param_groups:
            group["lr"] = _lr(cfg, step)

        batch = _to_device(next(batches), device, cfg.channels_last)
        total, parts = _loss(model, reference, batch, cfg, use_amp, device)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(total).backward()
        scaler.step(optimizer)
        scaler.update()
        step += 1
        losses.append(total.item())
        if not math.isfinite(losses[-1]) and not use_amp:  # AMP skips inf steps itself; fp32 has no excuse
            raise FloatingPointError(f"depth loss became {losses[-1]} at iteration {step}")

        at_phase_end = step == cfg.frozen_iters or step == cfg.total_iters
        if checkpoint_path is not None and (step % cfg.checkpoint_every == 0 or at_phase_end):
            _save(checkpoint_path, cfg, model, optimizer, scaler, step, phase)
        if progress is not None and (step % cfg.log_every == 0 or step == cfg.total_iters):
            rate = len(losses) / (time.perf_counter() - t0)
            progress(
                STAGES[phase],
                step / cfg.total_iters,
                f"iteration {step}/{cfg.total_iters} loss {losses[-1]:.4f} "
                f"(photometric {parts['photometric']:.4f}, automask {parts['automask']:.2f}) {rate:.2f} it/s",
            )
    return DepthTrainResult(model=model, step=step, losses=losses)


def _phase_of(cfg: DepthConfig, step: int) -> int:
    return 1 if step < cfg.frozen_iters else 2


def _loss(
    model: DepthModel,
    reference: ResNetEncoder | None,
    batch: SequenceBatch,
    cfg: DepthConfig,
    use_amp: bool,
    device: torch.device,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Network passes under autocast; the geometry and photometric loss in float32 (grid_sample and SSIM's
    variances are sensitive to half precision)."""
    autocast = torch.autocast(device.type, dtype=torch.float16) if use_amp else contextlib.nullcontext()
    with autocast:
        feats = model.encoder(batch["image_aug"])
        disps = model.decoder(feats)["disp"]
        poses = model.poses(batch["prev_aug"], batch["image_aug"], batch["next_aug"])
        fd = None
        if reference is not None:
            with torch.no_grad():
                ref_f4 = reference(batch["image_aug"])[-1]
            fd = feature_distance_loss(feats[-1].float(), ref_f4.float(), cfg.feature_distance)
    total, parts = sde_loss(
        {s: d.float() for s, d in disps.items()},
        poses,
        batch["image"],
        {-1: batch["prev"], 1: batch["next"]},
        batch["K"],
        batch["inv_K"],
        cfg.min_depth,
        cfg.max_depth,
        cfg.smoothness,
    )
    if fd is not None:
        total = total + fd
    return total, {k: v.item() for k, v in parts.items()}


def _lr(cfg: DepthConfig, step: int) -> float:
    """Phase 1: cfg.lr, ×0.1 from cfg.lr_step on; phase 2: cfg.finetune_lr (its milestone is never reached)."""
    if _phase_of(cfg, step) == 2:
        return cfg.finetune_lr
    return cfg.lr * (0.1 if cfg.lr_step is not None and step >= cfg.lr_step else 1.0)


def _optimizer(cfg: DepthConfig, model: DepthModel, phase: int) -> torch.optim.Optimizer:
    """A fresh Adam per phase, as the method's phases are separate runs."""
    model.encoder.requires_grad_(phase == 2)  # BN stays in train mode: running stats still update (quirk 8)
    return torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)


def _reference_encoder(
    cfg: DepthConfig, model: DepthModel, pretrained: dict[str, torch.Tensor] | None, device: torch.device
) -> ResNetEncoder | None:
    """Frozen, eval-mode copy of the pretrained encoder for the feature-distance loss (§2.3). None without
    pretrained weights: with a random init there is nothing meaningful to stay close to."""
    if cfg.feature_distance <= 0 or pretrained is None:
        return None
    ref = ResNetEncoder(cfg.layers, cfg.dilate_last)
    ref.load_state_dict(pretrained)
    ref = ref.to(device).eval().requires_grad_(False)
    return ref.to(memory_format=torch.channels_last) if cfg.channels_last else ref


def _batches(cfg: DepthConfig, data: Dataset | DataLoader) -> Iterator[SequenceBatch]:
    """Endless iterator over batches: a Dataset is wrapped in a shuffled, seeded DataLoader."""
    if not isinstance(data, DataLoader):
        gen = torch.Generator().manual_seed(cfg.seed)
        data = DataLoader(
            data, batch_size=cfg.batch_size, shuffle=True, drop_last=True, num_workers=cfg.num_workers, generator=gen
        )
    if len(data) == 0:
        raise ValueError(f"no full batch of {cfg.batch_size}: the dataset has fewer sequence frames than that")
    return itertools.chain.from_iterable(itertools.repeat(data))


def _to_device(batch: SequenceBatch, device: torch.device, channels_last: bool) -> SequenceBatch:
    out: dict[str, Any] = {}
    for key, value in batch.items():
        value = value.to(device, non_blocking=True)
        if channels_last and value.dim() == 4 and value.shape[1] == 3:
            value = value.contiguous(memory_format=torch.channels_last)
        out[key] = value
    return out  # type: ignore[return-value]


def _save(
    path: str | Path,
    cfg: DepthConfig,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    step: int,
    phase: int,
) -> None:
    save_checkpoint(
        path,
        {
            "kind": "depth",
            "config": cfg.to_dict(),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict(),
            "step": step,
            "phase": phase,
        },
    )
