"""Semi-supervised segmentation training loop and evaluation (method.md §3.3, §3.4, §5.1).

One iteration: supervised CE on a labeled batch [+ the multi-task net's self-supervised depth loss on it] (backward)
→ if the mean teacher is on, [the depth loss on the unlabeled batch (backward), then] the consistency loss on it
(backward) → [the depth loss on a separate sequence batch, for images without neighbour frames (backward)] →
unscale, clip the total gradient norm to 10, SGD step, LR schedule step → EMA update of the teacher. The separate
backward passes add up to the gradient of the summed objective, with a lower memory peak.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from models.checkpoint import load_checkpoint, save_checkpoint
from models.mean_teacher import ema_update, make_teacher
from models.metrics import ConfusionMatrix
from models.progress import Progress
from models.seg_net import MultiTaskNet, SegNet, SegNetConfig, build_seg_net, load_pose_init
from models.seg_step import (
    ConsistencyOptions,
    consistency_loss,
    cut_crops,
    normalize_disp,
    sde_batch_loss,
    supervised_loss,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegTrainConfig:
    """Hyper-parameters of a segmentation run; `asdict(cfg)` rides inside the checkpoint.

    Defaults are the method's (§3.4): SGD momentum 0.9, weight decay 5e-4, lr 1e-2 (decoders, heads) and 1e-3
    (encoder), ×0.1 after 75% of the iterations (30k of 40k), batches of 2 + 2, grad-norm clip 10, DepthMix with
    margin 0.03, confidence 0.968. Small runs scale `iterations`; the step point scales with it.
    """

    net: SegNetConfig = field(default_factory=SegNetConfig)
    iterations: int = 40_000
    batch_size: int = 2
    unlabeled_batch_size: int = 2
    lr: float = 1e-2
    encoder_lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_step_at: float = 0.75  # fraction of `iterations` where the LR is multiplied by lr_gamma
    lr_gamma: float = 0.1
    grad_clip: float = 10.0
    mean_teacher: bool = True  # False: supervised only, the unlabeled set is not used
    mix: str = "depthmix"  # "none" | "classmix" | "depthmix"
    depthmix_margin: float = 0.03
    confidence_threshold: float = 0.968
    consistency_weight: float = 1.0
    strong_aug: bool = True
    online_depth: bool | None = None  # None: True for the multi-task net (exp 212), else precomputed pseudo-depth
    teacher_train_mode: bool = True
    monodepth_weight: float = 1.0  # multi-task only: on batches with neighbour frames, or on a sequence batch
    amp: bool = True  # used on CUDA only
    encoder_weights: str | None = None  # encoder init without a depth checkpoint: None or "imagenet"
    eval_every: int = 0  # 0: evaluate at the end only (when a val set is given)
    checkpoint_every: int = 1000
    num_workers: int = 0
    seed: int = 0

    def consistency(self) -> ConsistencyOptions:
        online = self.net.variant == "multitask" if self.online_depth is None else self.online_depth
        return ConsistencyOptions(
            mix=self.mix,
            margin=self.depthmix_margin,
            threshold=self.confidence_threshold,
            weight=self.consistency_weight,
            strong_aug=self.strong_aug,
            online_depth=online,
            teacher_train_mode=self.teacher_train_mode,
        )

    @classmethod
    def from_dict(cls, d: dict) -> SegTrainConfig:
        d = dict(d)
        return cls(net=SegNetConfig(**d.pop("net")), **d)


@dataclass
class SegTrainResult:
    model: nn.Module  # the student (what the method validates; the teacher is never evaluated)
    step: int
    history: list[dict[str, float]]
    miou: float = math.nan
    per_class: list[float] = field(default_factory=list)


def _loader(ds: Dataset, batch_size: int, cfg: SegTrainConfig, seed: int, device: torch.device) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    bs = min(batch_size, len(ds))  # tiny label sets: a batch never exceeds the set (drop_last would yield nothing)
    return DataLoader(
        ds, bs, shuffle=True, drop_last=True, generator=g, num_workers=cfg.num_workers, pin_memory=device.type == "cuda"
    )


def _forever(loader: DataLoader) -> Iterator[dict]:
    while True:
        yield from loader


def _to(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if isinstance(v, Tensor) else v for k, v in batch.items()}


def make_optimizer(net: SegNet | MultiTaskNet, cfg: SegTrainConfig) -> torch.optim.SGD:
    """SGD with the encoder at `encoder_lr` and everything else (decoders, heads, attention) at `lr` (§3.4)."""
    groups = net.param_groups()
    params = [{"params": groups.pop("encoder"), "lr": cfg.encoder_lr}]
    params += [{"params": ps, "lr": cfg.lr} for ps in groups.values()]
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def load_seg_model(path: str | Path, device: torch.device | str = "cpu") -> nn.Module:
    """Rebuild the student of a segmentation checkpoint from its stored config (eval mode)."""
    blob = load_checkpoint(path)
    cfg = SegTrainConfig.from_dict(blob["config"])
    net = build_seg_net(cfg.net, state_follows=True)  # random init is overwritten at once: no warning
    net.load_state_dict(blob["model"])
    return net.to(device).eval()


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device | str) -> tuple[float, Tensor]:
    """(mIoU, per-class IoU) of the model's arg-max over a loader of `LabeledBatch`es (method.md §5.1).

    Logits are resized (bilinear) to the label size when they differ; the model is left in eval mode.
    """
    device = torch.device(device)
    model.eval()
    cm: ConfusionMatrix | None = None
    for batch in loader:
        image, label = batch["image"].to(device), batch["label"].to(device)
        logits = model(image)["seg"]  # (B, C, h, w)
        if logits.shape[-2:] != label.shape[-2:]:
            logits = nn.functional.interpolate(logits.float(), size=label.shape[-2:], mode="bilinear")
        cm = cm or ConfusionMatrix(logits.shape[1])
        cm.update(logits.argmax(1), label)
    if cm is None:
        raise ValueError("evaluation loader is empty")
    return cm.compute()


def lr_factor(step: int, cfg: SegTrainConfig) -> float:
    """LR multiplier of 1-based iteration `step`: ×lr_gamma once the step point is passed (StepLR at 30k of 40k,
    method.md §3.4). Computed from the config, so a resumed run with a new `iterations` moves the step point too."""
    return cfg.lr_gamma if step > round(cfg.lr_step_at * cfg.iterations) else 1.0


# How a run is driven, not what it optimises: a resume may change these without a word. (`iterations` moves the
# LR step point with it, by design: see `lr_factor`.)
RUN_ONLY_FIELDS = frozenset({"iterations", "eval_every", "checkpoint_every", "num_workers", "amp"})


def training_changes(stored: SegTrainConfig, requested: SegTrainConfig) -> dict[str, tuple[object, object]]:
    """Hyper-parameters (outside `RUN_ONLY_FIELDS` and `net`) whose value differs: name → (stored, requested)."""
    old, new = asdict(stored), asdict(requested)
    return {k: (old[k], new[k]) for k in new if k != "net" and k not in RUN_ONLY_FIELDS and old.get(k) != new[k]}


def _restore(blob: dict, cfg: SegTrainConfig, modules: dict[str, nn.Module | None], opt, scaler) -> int:
    stored = SegTrainConfig.from_dict(blob["config"])
    if stored.net != cfg.net:
        raise ValueError(f"checkpoint network {stored.net} differs from the requested {cfg.net}")
    step = int(blob["step"])
    changes = training_changes(stored, cfg)
    if changes and step < cfg.iterations:  # a finished run trains no further: its old settings no longer matter
        named = ", ".join(f"{k} {old!r} → {new!r}" for k, (old, new) in changes.items())
        log.warning("resuming at step %d of %d with training settings that differ from the checkpoint's "
                    "(the rest of the run uses the new ones): %s", step, cfg.iterations, named)  # fmt: skip
    for key, module in modules.items():
        if module is not None:
            module.load_state_dict(blob[key])
    opt.load_state_dict(blob["optimizer"])
    scaler.load_state_dict(blob["scaler"])
    return step


def train_segmentation(
    cfg: SegTrainConfig,
    labeled_ds: Dataset,
    unlabeled_ds: Dataset | None = None,
    *,
    device: torch.device | str,
    init: str | Path | None = None,
    progress: Progress | None = None,
    checkpoint_path: str | Path | None = None,
    resume: bool = True,
    val_ds: Dataset | None = None,
    sequence_ds: Dataset | None = None,
    depth_net: nn.Module | None = None,
    log_every: int = 50,
) -> SegTrainResult:
    """Train a segmentation student semi-supervised (method.md §3.3–3.4) and return it with its history.

    Args:
        cfg: hyper-parameters and network (`cfg.net.variant`: "scratch", "transfer", "multitask").
        labeled_ds: yields `LabeledBatch` samples (image, label 255 = ignore).
        unlabeled_ds: yields `UnlabeledBatch` samples; needed when `cfg.mean_teacher`. For DepthMix without online
            depth each sample carries `pseudo_disp`, unless `depth_net` is given.
        device: where to train; AMP (fp16 autocast + grad scaler) only on CUDA and when `cfg.amp`.
        init: depth checkpoint for transfer / multi-task initialisation (encoder + decoder copies + pose net).
        progress: called as progress(stage, fraction, message) with stage "train" or "eval".
        checkpoint_path: where the checkpoint {"model", "teacher", "optimizer", ..., "config", "step"} is written
            every `cfg.checkpoint_every` steps and at the end; with `resume` an existing one is continued.
        val_ds: `LabeledBatch` samples evaluated every `cfg.eval_every` steps and at the end.
        sequence_ds: `SequenceBatch` samples for the multi-task net's depth loss (weight `cfg.monodepth_weight`),
            for data whose labeled and unlabeled images lack neighbour frames. The method's placement is on the
            labeled and the unlabeled batch themselves, unjittered: build both datasets with `neighbours=True` and
            give no `sequence_ds`. With neither, the multi-task net trains on segmentation losses only.
        depth_net: a frozen depth network giving DepthMix its disparity when batches carry no `pseudo_disp`.
    """
    device = torch.device(device)
    torch.manual_seed(cfg.seed)
    net = build_seg_net(cfg.net, init=init, encoder_weights=cfg.encoder_weights).to(device)
    if device.type == "cuda":
        net = net.to(memory_format=torch.channels_last)
    teacher = make_teacher(net) if cfg.mean_teacher else None
    if cfg.mean_teacher and unlabeled_ds is None:
        raise ValueError("the mean teacher needs an unlabeled dataset")
    pose_net = None
    batch_depth = any(getattr(ds, "neighbours", False) for ds in (labeled_ds, unlabeled_ds))
    if (sequence_ds is not None or batch_depth) and cfg.net.variant == "multitask" and cfg.monodepth_weight > 0:
        from models.pose import PoseNet

        pose_net = PoseNet()
        if init is not None:
            load_pose_init(pose_net, init)
        pose_net = pose_net.to(device)
    opt = make_optimizer(net, cfg)
    if pose_net is not None:
        opt.add_param_group({"params": list(pose_net.parameters()), "lr": 1e-6})  # exp 212's pose-net lr (§3.4)
    base_lrs = [g["lr"] for g in opt.param_groups]
    amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    modules = {"model": net, "teacher": teacher, "pose": pose_net}

    start, history = 0, []
    if checkpoint_path is not None and resume and Path(checkpoint_path).exists():
        blob = load_checkpoint(checkpoint_path, device)
        start, history = _restore(blob, cfg, modules, opt, scaler), blob.get("history", [])
        log.info("resumed %s at step %d", checkpoint_path, start)

    def checkpoint(step: int) -> None:
        if checkpoint_path is None:
            return
        state = {k: m.state_dict() for k, m in modules.items() if m is not None}
        state.update(optimizer=opt.state_dict(), scaler=scaler.state_dict())
        save_checkpoint(checkpoint_path, {**state, "kind": "segmentation", "config": asdict(cfg), "step": step,
                                          "history": history})  # fmt: skip

    def run_eval(step: int) -> tuple[float, Tensor]:
        loader = DataLoader(val_ds, batch_size=max(1, cfg.batch_size), num_workers=cfg.num_workers)
        miou, per_class = evaluate(net, loader, device)
        history.append({"step": step, "miou": miou})
        if progress:
            progress("eval", step / cfg.iterations, f"step {step}: mIoU {miou:.4f}")
        return miou, per_class

    seed = cfg.seed * 1000 + start  # a resumed run draws fresh, reproducible batch orders and mixes
    mix_gen = torch.Generator().manual_seed(seed)
    labeled = _forever(_loader(labeled_ds, cfg.batch_size, cfg, seed, device))
    unlabeled = _forever(_loader(unlabeled_ds, cfg.unlabeled_batch_size, cfg, seed + 1, device)) if teacher else None
    sequences = None
    if pose_net is not None and sequence_ds is not None:
        sequences = _forever(_loader(sequence_ds, cfg.batch_size, cfg, seed + 2, device))
    opts = cfg.consistency()
    params = [p for m in modules.values() if m is not None for p in m.parameters() if p.requires_grad]

    def autocast():
        return torch.autocast("cuda", dtype=torch.float16) if amp else nullcontext()

    for step in range(start + 1, cfg.iterations + 1):
        net.train()
        for group, base in zip(opt.param_groups, base_lrs, strict=True):
            group["lr"] = base * lr_factor(step, cfg)
        opt.zero_grad(set_to_none=True)
        lb = _to(next(labeled), device)
        with autocast():
            out = net(lb["image"])
            sup = supervised_loss(out, lb["label"])
            sde_labeled = None
            if pose_net is not None and "prev" in lb:  # the method's depth loss on the labeled batch (§1.6)
                sde_labeled = cfg.monodepth_weight * sde_batch_loss(net, pose_net, lb, disps=out["disp"])
        scaler.scale(sup if sde_labeled is None else sup + sde_labeled).backward()
        stats = {"step": step, "sup": float(sup.detach())}
        if sde_labeled is not None:
            stats["sde"] = float(sde_labeled.detach())
        if teacher is not None:
            ub = _to(next(unlabeled), device)
            step_opts = opts
            if pose_net is not None and "prev" in ub:
                # the method (§3.3 step 4): the student's forward on the unaugmented unlabeled crop gives the depth
                # loss on this batch and, detached, DepthMix's online disparity
                if "crop_box" in ub:
                    ub, _ = cut_crops(ub, None)
                with autocast():
                    out_u = net(ub["image"])
                    sde_unlabeled = cfg.monodepth_weight * sde_batch_loss(net, pose_net, ub, disps=out_u["disp"])
                scaler.scale(sde_unlabeled).backward()
                stats["sde_unlabeled"] = float(sde_unlabeled.detach())
                if opts.online_depth:
                    ub["pseudo_disp"] = normalize_disp(out_u["disp"][0].detach().float())
                    step_opts = replace(opts, online_depth=False)
            unsup, info = consistency_loss(
                net, teacher, ub, step_opts, generator=mix_gen, depth_net=depth_net, autocast=autocast()
            )
            scaler.scale(unsup).backward()
            stats.update(unsup=float(unsup.detach()), **info)
        if sequences is not None:
            with autocast():
                sde = cfg.monodepth_weight * sde_batch_loss(net, pose_net, _to(next(sequences), device))
            scaler.scale(sde).backward()
            stats["sde"] = float(sde.detach())
        scaler.unscale_(opt)
        stats["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip))
        scaler.step(opt)
        scaler.update()
        if teacher is not None:
            ema_update(teacher, net, step)
        if step % log_every == 0 or step == cfg.iterations:
            history.append(stats)
            log.info("step %d/%d %s", step, cfg.iterations, {k: round(v, 4) for k, v in stats.items()})
        if progress:
            progress("train", step / cfg.iterations, f"step {step}/{cfg.iterations} loss {stats['sup']:.3f}")
        if val_ds is not None and cfg.eval_every and step % cfg.eval_every == 0 and step < cfg.iterations:
            run_eval(step)
        if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
            checkpoint(step)

    result = SegTrainResult(net, cfg.iterations, history)
    if val_ds is not None:
        miou, per_class = run_eval(cfg.iterations)
        result.miou, result.per_class = miou, per_class.tolist()
    if start < cfg.iterations:  # a checkpoint that was already finished stays as written, with its own config
        checkpoint(cfg.iterations)
    return result
