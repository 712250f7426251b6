"""Depth decoder: monodepth2's U-Net with an ASPP bottleneck and sigmoid disparity heads (method.md §1.2)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.tv import import_torchvision

ASPP_RATES = (6, 12, 18)


class ConvBlock(nn.Module):
    """Reflection-padded 3×3 conv [+ BN] + ELU (method.md §1.2, monodepth_layers.py:L108-142)."""

    def __init__(self, in_ch: int, out_ch: int, batch_norm: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, padding=1, padding_mode="reflect")
        self.bn = nn.BatchNorm2d(out_ch) if batch_norm else nn.Identity()
        self.act = nn.ELU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.conv(x)))


class DepthDecoder(nn.Module):
    """U-Net decoder over the five encoder maps, built from the encoder's channel list (method.md §1.2).

    Stage i (4, 3, 2, 1, 0): `upconv_{i}_0` (ASPP 6/12/18 for i = 4 when `aspp`, else a ConvBlock) → nearest ×2
    upsample iff the map is narrower than skip f_{i-1} or i == 0 (f3 and a dilated f4 share H/16, so stage 4 then
    does not upsample) → concat f_{i-1} (i > 0) → `upconv_{i}_1`. The output of stage i is ("upconv", i), with
    num_ch_dec[i] channels. Disparity head s = sigmoid(reflection-padded 3×3 conv → 1 channel) on ("upconv", s).

    Stage-wise API (what the segmentation and multi-task "PAD" decoders of §1.4/§1.5 are built on):
        x, feats = dec.run_stages(enc_feats, stages=(4, 3, 2))      # x = ("upconv", 2), feats = {4: …, 3: …, 2: …}
        x = x + exchange(x)                                          # e.g. PAD's cross-task attention
        x, more = dec.run_stages(enc_feats, stages=(1, 0), x=x)      # continue from a given map
        disp0 = dec.disp(0, x)                                       # (B, 1, H, W)
    `forward(enc_feats)` runs all stages and returns {"disp": {s: (B, 1, H/2^s, W/2^s)}, "upconv": {i: map}}.
    With `with_disp=False` there are no disparity heads (a segmentation copy); its state dict is the depth
    decoder's minus the `dispconvs.*` keys, so `load_state_dict(depth_state, strict=False)` initialises it.
    Resolutions (input H×W, encoder output stride 16): upconv4 @ H/16, upconv3 @ H/8 (256 ch, the selection's
    diversity feature, §4.3), upconv2 @ H/4, upconv1 @ H/2, upconv0 @ H.

    Args:
        enc_channels: the encoder's `channels` (5 entries).
        num_ch_dec: decoder widths per stage; (64, 64, 128, 128, 256) with batch_norm=True is the method's "dec9".
        scales: disparity scales to predict.
        aspp: ASPP bottleneck at stage 4 (the method's dec5/dec6); False gives plain monodepth2.
        batch_norm: BN inside every ConvBlock ("dec9").
        with_disp: build the disparity heads.
    """

    def __init__(
        self,
        enc_channels: Sequence[int],
        num_ch_dec: Sequence[int] = (64, 128, 128, 256, 256),
        scales: Sequence[int] = (0, 1, 2, 3),
        aspp: bool = True,
        batch_norm: bool = False,
        with_disp: bool = True,
    ) -> None:
        super().__init__()
        if len(enc_channels) != 5 or len(num_ch_dec) != 5:
            raise ValueError("enc_channels and num_ch_dec need 5 entries each")
        self.enc_channels = list(enc_channels)
        self.num_ch_dec = list(num_ch_dec)
        self.scales = tuple(scales) if with_disp else ()
        self.convs = nn.ModuleDict()
        for i in range(4, -1, -1):
            if i == 4:
                if aspp:
                    aspp_cls = import_torchvision().models.segmentation.deeplabv3.ASPP
                    self.convs["upconv_4_0"] = aspp_cls(enc_channels[4], ASPP_RATES, num_ch_dec[4])
                else:
                    self.convs["upconv_4_0"] = ConvBlock(enc_channels[4], num_ch_dec[4], batch_norm)
            else:
                self.convs[f"upconv_{i}_0"] = ConvBlock(num_ch_dec[i + 1], num_ch_dec[i], batch_norm)
            skip = enc_channels[i - 1] if i > 0 else 0
            self.convs[f"upconv_{i}_1"] = ConvBlock(num_ch_dec[i] + skip, num_ch_dec[i], batch_norm)
        self.dispconvs = nn.ModuleDict(
            {str(s): nn.Conv2d(num_ch_dec[s], 1, 3, padding=1, padding_mode="reflect") for s in self.scales}
        )

    def run_stage(self, i: int, x: Tensor, enc_feats: Sequence[Tensor]) -> Tensor:
        """Stage i from the previous stage's output (or f4 for i = 4) to ("upconv", i)."""
        x = self.convs[f"upconv_{i}_0"](x)
        if i == 0 or x.shape[-1] < enc_feats[i - 1].shape[-1]:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        if i > 0:
            skip = enc_feats[i - 1]
            if skip.shape[-2:] != x.shape[-2:]:  # odd input sizes: align to the skip map
                x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")
            x = torch.cat([x, skip], dim=1)  # (B, num_ch_dec[i] + c_{i-1}, h, w)
        return self.convs[f"upconv_{i}_1"](x)

    def run_stages(
        self, enc_feats: Sequence[Tensor], stages: Iterable[int] = range(4, -1, -1), x: Tensor | None = None
    ) -> tuple[Tensor, dict[int, Tensor]]:
        """Run `stages` in order, starting from `x` (default f4). Returns the last map and {i: ("upconv", i)}."""
        x = enc_feats[4] if x is None else x
        feats: dict[int, Tensor] = {}
        for i in stages:
            x = self.run_stage(i, x, enc_feats)
            feats[i] = x
        return x, feats

    def disp(self, s: int, x: Tensor) -> Tensor:
        """Sigmoid disparity of scale s from ("upconv", s): (B, 1, h, w) in (0, 1)."""
        return torch.sigmoid(self.dispconvs[str(s)](x))

    def forward(self, enc_feats: Sequence[Tensor]) -> dict[str, dict[int, Tensor]]:
        _, feats = self.run_stages(enc_feats)
        return {"disp": {s: self.disp(s, feats[s]) for s in self.scales}, "upconv": feats}
