"""Pose network: ResNet-18 on frame pairs plus monodepth2's pose decoder (method.md §1.3)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from models.encoder import ResNetEncoder

POSE_SCALE = 0.01  # the decoder's output is multiplied by 0.01 (pose_decoder.py:L18-58)


class PoseDecoder(nn.Module):
    """1×1 conv 512→256 + ReLU, two 3×3 convs 256→256 + ReLU, 1×1 conv 256→12, spatial mean, ×0.01.

    The 12 numbers are two 6-DoF poses (monodepth2 predicts one per frame in the pair); only the first is used.
    """

    def __init__(self, in_channels: int = 512) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(in_channels, 256, 1)
        self.pose0 = nn.Conv2d(256, 256, 3, padding=1)
        self.pose1 = nn.Conv2d(256, 256, 3, padding=1)
        self.pose2 = nn.Conv2d(256, 12, 1)
        self.relu = nn.ReLU()

    def forward(self, f4: Tensor) -> tuple[Tensor, Tensor]:
        x = self.relu(self.squeeze(f4))
        x = self.relu(self.pose0(x))
        x = self.relu(self.pose1(x))
        x = self.pose2(x).mean(dim=(2, 3)) * POSE_SCALE  # (B, 12)
        x = x.view(-1, 2, 6)  # (B, 2 poses, 6)
        return x[:, 0, :3], x[:, 0, 3:]  # axis-angle (B, 3), translation (B, 3) of the first pose


class PoseNet(nn.Module):
    """Relative camera motion between two frames given in temporal order (method.md §1.3).

    `forward(a, b)` with a, b (B, 3, H, W) RGB in [0, 1] returns (axisangle, translation), each (B, 3). The pair is
    always (earlier, later): for source −1 call `(prev, image)` and build the matrix with `invert=True`; for +1
    call `(image, next)` with `invert=False` (see `models.geometry.pose_vec_to_matrix`).

    Args:
        weights: encoder init as in `ResNetEncoder` ("imagenet" tiles the RGB conv1 kernel over 6 channels, /2).
    """

    def __init__(self, weights: str | None = None) -> None:
        super().__init__()
        self.encoder = ResNetEncoder(18, in_channels=6, weights=weights)
        self.decoder = PoseDecoder(self.encoder.channels[-1])

    def forward(self, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
        pair = torch.cat([a, b], dim=1)  # (B, 6, H, W)
        return self.decoder(self.encoder(pair)[-1])
