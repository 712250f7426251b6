"""The self-supervised depth model (encoder + depth decoder + pose net), its config, and checkpoint loading."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from models.checkpoint import load_checkpoint
from models.depth_decoder import DepthDecoder
from models.encoder import ResNetEncoder
from models.geometry import pose_vec_to_matrix
from models.pose import PoseNet


@dataclass(frozen=True)
class DepthConfig:
    """Architecture and schedule of depth pretraining. Defaults are the method's (method.md §1.1-1.3, §2.4); small
    runs override sizes and iteration counts (see `DepthConfig.small`)."""

    # architecture (§1.1-1.3)
    layers: int = 101  # ResNet depth of the depth encoder
    dilate_last: bool = True  # output stride 16
    weights: str | None = "imagenet"  # depth encoder init: None, "imagenet" or a file
    pose_weights: str | None = "imagenet"  # pose encoder (ResNet-18, 6 channels) init
    num_ch_dec: tuple[int, ...] = (64, 128, 128, 256, 256)
    aspp: bool = True
    batch_norm: bool = False
    scales: tuple[int, ...] = (0, 1, 2, 3)
    min_depth: float = 0.1
    max_depth: float = 100.0
    # loss (§2.2-2.3)
    smoothness: float = 1e-3
    feature_distance: float = 1e-2  # phase 2 only, and only with a pretrained encoder to stay close to
    # schedule (§2.4): phase 1 frozen encoder, phase 2 everything trainable
    batch_size: int = 4
    frozen_iters: int = 300_000
    lr: float = 1e-4
    lr_step: int | None = 160_000  # phase-1 lr ×0.1 at this iteration
    finetune_iters: int = 100_000  # config value; the README says 50k (§8 quirk 9)
    finetune_lr: float = 1e-5
    # engineering
    amp: bool = True  # float16 autocast + GradScaler; only ever used on CUDA
    channels_last: bool = False
    num_workers: int = 0
    seed: int = 0
    checkpoint_every: int = 1000
    log_every: int = 50

    def __post_init__(self) -> None:
        for name in ("num_ch_dec", "scales"):  # lists (JSON, CLI) become tuples so configs compare equal
            object.__setattr__(self, name, tuple(getattr(self, name)))

    @property
    def total_iters(self) -> int:
        return self.frozen_iters + self.finetune_iters

    @classmethod
    def small(cls, **overrides: Any) -> DepthConfig:
        """A CPU-sized run: ResNet-18 from random init, no frozen phase (a frozen random encoder learns nothing),
        everything trainable at 1e-4."""
        base: dict[str, Any] = {
            "layers": 18, "dilate_last": False, "weights": None, "pose_weights": None, "batch_size": 4,
            "frozen_iters": 0, "lr_step": None, "finetune_iters": 300, "finetune_lr": 1e-4,
            "checkpoint_every": 100, "log_every": 10,
        }  # fmt: skip
        base.update(overrides)
        return cls(**base)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DepthConfig:
        """Inverse of `asdict`, tolerant of JSON round trips (lists back to tuples); unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown DepthConfig fields: {sorted(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DepthModel(nn.Module):
    """Depth encoder + decoder + pose net (method.md §1.1-1.3).

    `forward(image)` returns the decoder dict {"disp": {s: (B, 1, H/2^s, W/2^s)}, "upconv": {i: features}};
    `predict_disp(image)` the full-resolution disparity; `features(image, stage)` one ("upconv", stage) map
    (stage 3 = 256 ch @ H/8, the selection's diversity feature); `poses(prev, image, next)` the motions target →
    source as (B, 4, 4) matrices keyed by frame id. State-dict prefixes: `encoder.`, `decoder.`, `pose.`.

    Args:
        cfg: the architecture.
        pretrained: load `cfg.weights` / `cfg.pose_weights`; False when a checkpoint will overwrite them anyway.
    """

    def __init__(self, cfg: DepthConfig, pretrained: bool = True) -> None:
        super().__init__()
        self.encoder = ResNetEncoder(cfg.layers, cfg.dilate_last, weights=cfg.weights if pretrained else None)
        self.decoder = DepthDecoder(self.encoder.channels, cfg.num_ch_dec, cfg.scales, cfg.aspp, cfg.batch_norm)
        self.pose = PoseNet(weights=cfg.pose_weights if pretrained else None)

    def forward(self, image: Tensor) -> dict[str, dict[int, Tensor]]:
        return self.decoder(self.encoder(image))

    def predict_disp(self, image: Tensor) -> Tensor:
        """Sigmoid disparity at the input resolution, (B, 1, H, W); larger = closer."""
        feats = self.encoder(image)
        x, _ = self.decoder.run_stages(feats)
        return self.decoder.disp(0, x)

    def features(self, image: Tensor, stage: int = 3) -> Tensor:
        """Decoder features ("upconv", stage), running only the stages down to `stage`."""
        _, feats = self.decoder.run_stages(self.encoder(image), stages=range(4, stage - 1, -1))
        return feats[stage]

    def poses(self, prev: Tensor, image: Tensor, next: Tensor) -> dict[int, Tensor]:
        """{−1: T, +1: T}, T (B, 4, 4) mapping target-camera points into the source camera (method.md §1.3)."""
        aa, t = self.pose(prev, image)  # pair in temporal order (I₋₁, I₀): its motion is inverted
        T_prev = pose_vec_to_matrix(aa.float(), t.float(), invert=True)
        aa, t = self.pose(image, next)
        T_next = pose_vec_to_matrix(aa.float(), t.float(), invert=False)
        return {-1: T_prev, 1: T_next}


def load_depth_model(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[DepthModel, DepthConfig]:
    """Rebuild a DepthModel (eval mode) and its config from a checkpoint written by `train_depth`."""
    ckpt = load_checkpoint(path, map_location)
    cfg = DepthConfig.from_dict(ckpt["config"])
    model = DepthModel(cfg, pretrained=False)
    model.load_state_dict(ckpt["model"])
    return model.to(map_location).eval(), cfg
