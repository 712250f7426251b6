"""Segmentation networks: decoder transfer from depth (method.md §1.4) and the multi-task "PAD" net (§1.5, §1.6).

Both are built on the depth model's own parts (`models.encoder.ResNetEncoder`, `models.depth_decoder.DepthDecoder`),
so a depth checkpoint's tensors load into them key for key:
- `SegNet` ("scratch" / "transfer"): encoder → its OWN copy of the depth-decoder architecture (no disparity heads) →
  head = 1×1 conv (no bias) to 64 channels → 1×1 conv to the classes, on upconv0 at full input resolution (the
  method's exp 210 head, layers = [9]: two stacked linear maps with nothing in between, §8 quirk 5).
- `MultiTaskNet` ("multitask"): a depth decoder and a segmentation decoder, both initialised from depth; stages 4, 3, 2
  of each; cross-task exchange through gated self-attention; stages 1, 0; final 1×1 head on upconv0 and a side 1×1
  head on the pre-exchange upconv2 (H/4). Its depth outputs give DepthMix its online disparity.
`forward(image)` returns a dict: "seg" (B, C, H, W) logits always; "seg_side" (B, C, H/4, W/4) and
"disp" {s: (B, 1, H/2^s, W/2^s)} for the multi-task net.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contracts.settings import SegVariant
from models.checkpoint import load_checkpoint
from models.depth_decoder import DepthDecoder
from models.encoder import ResNetEncoder

log = logging.getLogger(__name__)

VARIANTS = get_args(SegVariant)  # ("transfer", "multitask", "scratch"): contracts.settings
SPLIT_STAGE = 2  # distillation_layer 7 ⇒ exchange after decoder stage 2 (method.md §1.5)


@dataclass(frozen=True)
class SegNetConfig:
    """Architecture of a segmentation network; rides inside checkpoints (`asdict`).

    `variant` picks the network: "scratch" and "transfer" share `SegNet` and differ only in initialisation (random
    decoder vs. depth decoder); "multitask" is `MultiTaskNet`. The encoder/decoder fields must match the depth
    model a transfer initialises from. The method: ResNet-101, dilated layer4, dec widths (64, 128, 128, 256, 256),
    ASPP, no BN, 19 classes.
    """

    variant: str = "transfer"
    num_classes: int = 19
    encoder_layers: int = 101
    dilate_last: bool = True
    num_ch_dec: tuple[int, ...] = (64, 128, 128, 256, 256)
    aspp: bool = True
    batch_norm: bool = False
    head_channels: int = 64  # `layer_out_channels` of the transfer head (method.md §1.4)
    scales: tuple[int, ...] = (0, 1, 2, 3)  # disparity scales of the multi-task depth decoder

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown segmentation variant {self.variant!r}; choose one of {VARIANTS}")
        object.__setattr__(self, "num_ch_dec", tuple(self.num_ch_dec))
        object.__setattr__(self, "scales", tuple(self.scales))


class GatedAttention(nn.Module):
    """SA(x) = conv3×3(x) ⊙ sigmoid(conv3×3_att(x)), no biases; the attention conv starts at zero ⇒ gate 0.5
    (method.md §1.5, model_parts.py:L35-46)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.att = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        nn.init.zeros_(self.att.weight)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x) * torch.sigmoid(self.att(x))


def _decoder(cfg: SegNetConfig, enc_channels: list[int], with_disp: bool) -> DepthDecoder:
    return DepthDecoder(enc_channels, cfg.num_ch_dec, cfg.scales, cfg.aspp, cfg.batch_norm, with_disp=with_disp)


class SegNet(nn.Module):
    """Encoder + decoder copy + the exp-210 head (method.md §1.4): logits (B, C, H, W) at the input resolution."""

    def __init__(self, cfg: SegNetConfig, encoder_weights: str | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = ResNetEncoder(cfg.encoder_layers, cfg.dilate_last, weights=encoder_weights)
        self.decoder = _decoder(cfg, self.encoder.channels, with_disp=False)
        self.project = nn.Conv2d(cfg.num_ch_dec[0], cfg.head_channels, 1, bias=False)
        self.classifier = nn.Conv2d(cfg.head_channels, cfg.num_classes, 1)

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        x, _ = self.decoder.run_stages(self.encoder(image))  # (B, num_ch_dec[0], H, W) = ("upconv", 0)
        logits = self.classifier(self.project(x))  # (B, C, H, W)
        if logits.shape[-2:] != image.shape[-2:]:  # odd sizes: the decoder's ×2 steps overshoot or undershoot
            logits = F.interpolate(logits, size=image.shape[-2:], mode="bilinear", align_corners=False)
        return {"seg": logits}

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """{"encoder": …, "decoder": … (decoder + heads)} for the method's two learning rates (§3.4)."""
        enc = list(self.encoder.parameters())
        enc_ids = {id(p) for p in enc}
        return {"encoder": enc, "decoder": [p for p in self.parameters() if id(p) not in enc_ids]}


class MultiTaskNet(nn.Module):
    """The "PAD" multi-task net (method.md §1.5): depth and segmentation decoders exchanging features at stage 2."""

    def __init__(self, cfg: SegNetConfig, encoder_weights: str | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = ResNetEncoder(cfg.encoder_layers, cfg.dilate_last, weights=encoder_weights)
        self.depth_decoder = _decoder(cfg, self.encoder.channels, with_disp=True)
        self.seg_decoder = _decoder(cfg, self.encoder.channels, with_disp=False)
        mid = cfg.num_ch_dec[SPLIT_STAGE]
        self.sa_depth = GatedAttention(mid)  # depth → segmentation message (in the "segmentation" group)
        self.sa_seg = GatedAttention(mid)  # segmentation → depth message (in the "depth" group)
        self.classifier = nn.Conv2d(cfg.num_ch_dec[0], cfg.num_classes, 1)
        self.side_classifier = nn.Conv2d(mid, cfg.num_classes, 1)

    def forward(self, image: Tensor) -> dict[str, Tensor | dict[int, Tensor]]:
        feats = self.encoder(image)
        first = tuple(range(4, SPLIT_STAGE - 1, -1))  # (4, 3, 2)
        rest = tuple(range(SPLIT_STAGE - 1, -1, -1))  # (1, 0)
        d, d_feats = self.depth_decoder.run_stages(feats, first)  # (B, 128, H/4, W/4)
        s, _ = self.seg_decoder.run_stages(feats, first)  # (B, 128, H/4, W/4)
        side = self.side_classifier(s)  # (B, C, H/4, W/4): pre-exchange; the loss upsamples it
        # both messages come from the pre-exchange maps (method.md §1.5): the depth branch must not see a
        # segmentation map that already holds the depth message
        s, d = s + self.sa_depth(d), d + self.sa_seg(s)
        s, _ = self.seg_decoder.run_stages(feats, rest, x=s)  # (B, 64, H, W)
        d, d_rest = self.depth_decoder.run_stages(feats, rest, x=d)
        # disp_3 and disp_2 come from the pre-exchange maps (each stage's head runs right after its stage),
        # disp_1 and disp_0 from the stages that followed the exchange
        d_feats.update(d_rest)
        disp = {k: self.depth_decoder.disp(k, d_feats[k]) for k in self.cfg.scales}
        logits = self.classifier(s)  # (B, C, H, W)
        if logits.shape[-2:] != image.shape[-2:]:
            logits = F.interpolate(logits, size=image.shape[-2:], mode="bilinear", align_corners=False)
        return {"seg": logits, "seg_side": side, "disp": disp}

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """{"encoder": …, "decoder": seg_dec + sa_depth + heads, "depth": depth_dec + sa_seg} (method.md §1.5)."""
        depth = list(self.depth_decoder.parameters()) + list(self.sa_seg.parameters())
        enc = list(self.encoder.parameters())
        taken = {id(p) for p in depth + enc}
        return {"encoder": enc, "decoder": [p for p in self.parameters() if id(p) not in taken], "depth": depth}


def _prefixed(state: dict[str, Tensor], prefixes: tuple[str, ...]) -> dict[str, Tensor]:
    """The sub-state under the first prefix present in `state`, prefix stripped ({} when none is)."""
    for prefix in prefixes:
        sub = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if sub:
            return sub
    return {}


def _load_matching(module: nn.Module, state: dict[str, Tensor], what: str) -> int:
    own = module.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    module.load_state_dict(usable, strict=False)
    log.info("initialised %s from depth: %d/%d tensors", what, len(usable), len(own))
    return len(usable)


# Key prefixes under which a depth checkpoint may hold its depth decoder.
DEPTH_DECODER_PREFIXES = ("depth_decoder.", "decoder.", "depth.")


def load_depth_init(net: SegNet | MultiTaskNet, path: str | Path) -> None:
    """Transfer from a depth checkpoint (method.md §1.6): encoder ← its encoder; every decoder copy ← its depth decoder.

    The checkpoint is `{"model": state_dict, ...}` (`models.checkpoint`) with `encoder.*` and depth-decoder keys
    (`decoder.*` in `models.depth_model.DepthModel`, or another of `DEPTH_DECODER_PREFIXES`). Heads and attention
    modules stay random. Raises ValueError when the file holds no matching encoder or decoder tensors (e.g. a
    different architecture).
    """
    state = load_checkpoint(path)["model"]
    enc_state, dec_state = _prefixed(state, ("encoder.",)), _prefixed(state, DEPTH_DECODER_PREFIXES)
    if not enc_state or not dec_state:
        raise ValueError(f"{path} is not a depth checkpoint with encoder.* and depth-decoder tensors")
    if _load_matching(net.encoder, enc_state, "encoder") == 0:
        raise ValueError(f"{path}: no encoder tensor fits a ResNet-{net.cfg.encoder_layers} encoder")
    decoders = [net.decoder] if isinstance(net, SegNet) else [net.depth_decoder, net.seg_decoder]
    for dec in decoders:
        if _load_matching(dec, dec_state, "decoder") == 0:
            raise ValueError(f"{path}: no depth-decoder tensor fits num_ch_dec={net.cfg.num_ch_dec}")


def load_pose_init(pose_net: nn.Module, path: str | Path) -> None:
    """Initialise the multi-task run's pose network from the depth checkpoint's `pose.*` tensors (method.md §1.6)."""
    state = _prefixed(load_checkpoint(path)["model"], ("pose.",))
    if _load_matching(pose_net, state, "pose net") == 0:
        raise ValueError(f"{path} holds no pose-network tensors")


def config_from_depth(depth_cfg: dict, variant: str, num_classes: int) -> SegNetConfig:
    """The segmentation architecture that fits a depth checkpoint's config (`asdict(DepthConfig)`) for transfer."""
    return SegNetConfig(
        variant=variant,
        num_classes=num_classes,
        encoder_layers=depth_cfg["layers"],
        dilate_last=depth_cfg["dilate_last"],
        num_ch_dec=tuple(depth_cfg["num_ch_dec"]),
        aspp=depth_cfg["aspp"],
        batch_norm=depth_cfg["batch_norm"],
        scales=tuple(depth_cfg["scales"]),
    )


def build_seg_net(
    cfg: SegNetConfig,
    *,
    init: str | Path | None = None,
    encoder_weights: str | None = None,
    state_follows: bool = False,
) -> SegNet | MultiTaskNet:
    """The network for `cfg.variant`, initialised as the method's ablation rows do (method.md §1.6).

    Args:
        init: depth checkpoint for "transfer" and "multitask" (encoder + decoder copies); must be None for "scratch".
        encoder_weights: encoder init when there is no depth checkpoint: None (random) or "imagenet" (the method's
            scratch baseline; needs torchvision's weight download).
        state_follows: the caller loads a trained state dict next (a checkpoint being restored), so a random
            initialisation is expected and not warned about.
    """
    if cfg.variant == "scratch" and init is not None:
        raise ValueError("the scratch variant does not load a depth checkpoint; use variant='transfer'")
    net: SegNet | MultiTaskNet = (MultiTaskNet if cfg.variant == "multitask" else SegNet)(cfg, encoder_weights)
    if init is not None:
        load_depth_init(net, init)
    elif cfg.variant != "scratch" and not state_follows:
        log.warning("variant %r without a depth checkpoint: decoder initialised at random", cfg.variant)
    return net
