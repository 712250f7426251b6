"""ResNet encoder shared by depth, pose and segmentation networks (method.md §1.1, §1.3).

The encoder returns the five feature maps the U-Net decoders are built from and applies the method's input
normalisation itself, so every caller passes RGB in [0, 1].
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import Tensor, nn

from models.tv import import_torchvision

log = logging.getLogger(__name__)

# Channel lists of the five returned maps (method.md §1.1): f0 = stem, f1..f4 = layer1..layer4.
CHANNELS = {18: [64, 64, 128, 256, 512], 50: [64, 256, 512, 1024, 2048], 101: [64, 256, 512, 1024, 2048]}
_IMAGENET_WEIGHTS = {18: "ResNet18_Weights", 50: "ResNet50_Weights", 101: "ResNet101_Weights"}

# monodepth2-style normalisation, NOT the ImageNet mean/std (method.md §1.1, resnet_encoder.py:L92).
INPUT_MEAN = 0.45
INPUT_STD = 0.225


class ResNetEncoder(nn.Module):
    """torchvision ResNet-18/50/101 returning [f0, f1, f2, f3, f4] (method.md §1.1).

    Shapes for an (B, C, H, W) input: f0 (B, 64, H/2, W/2), f1 @ H/4, f2 @ H/8, f3 @ H/16, f4 @ H/32, or H/16 with
    `dilate_last` (layer4 dilated, output stride 16; the method's ResNet-101). `channels` lists the five widths.

    The backbone's modules sit directly on this object (`conv1`, `bn1`, `layer1`…), so its state-dict keys equal
    torchvision's ResNet keys without `fc.`: a torchvision checkpoint loads as is.

    Args:
        layers: 18, 50 or 101.
        dilate_last: dilate layer4 instead of striding it (needs a Bottleneck ResNet, i.e. 50 or 101).
        in_channels: input channels; 6 for the pose network's frame pairs (method.md §1.3).
        weights: None (random init), "imagenet" (torchvision IMAGENET1K_V1 enum, the old `pretrained=True`; needs
            a download), or a path to a file holding a ResNet/encoder state dict or a depth checkpoint
            (`{"model": ...}` whose `encoder.*` keys are used). Only keys present in the file are loaded.
    """

    def __init__(
        self, layers: int = 18, dilate_last: bool = False, in_channels: int = 3, weights: str | None = None
    ) -> None:
        super().__init__()
        if layers not in CHANNELS:
            raise ValueError(f"ResNet depth must be one of {sorted(CHANNELS)}, got {layers}")
        if dilate_last and layers == 18:
            raise ValueError("dilate_last needs a Bottleneck ResNet (50 or 101): BasicBlock cannot dilate")
        tv = import_torchvision()
        dilation = [False, False, dilate_last]
        net = getattr(tv.models, f"resnet{layers}")(weights=None, replace_stride_with_dilation=dilation)
        if weights == "imagenet":
            enum = getattr(tv.models, _IMAGENET_WEIGHTS[layers]).IMAGENET1K_V1
            net.load_state_dict(enum.get_state_dict(progress=True))
        if in_channels != 3:
            net.conv1 = _widen_conv1(net.conv1, in_channels)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.channels: list[int] = list(CHANNELS[layers])
        self.layers = layers
        if weights not in (None, "imagenet"):
            self.load_weights_file(weights)

    def forward(self, x: Tensor) -> list[Tensor]:
        x = (x - INPUT_MEAN) / INPUT_STD
        f0 = self.relu(self.bn1(self.conv1(x)))  # (B, 64, H/2, W/2)
        f1 = self.layer1(self.maxpool(f0))  # (B, c1, H/4, W/4)
        f2 = self.layer2(f1)  # (B, c2, H/8, W/8)
        f3 = self.layer3(f2)  # (B, c3, H/16, W/16)
        f4 = self.layer4(f3)  # (B, c4, H/32 or H/16 when dilated)
        return [f0, f1, f2, f3, f4]

    def load_weights_file(self, path: str | Path) -> None:
        """Load encoder weights from a file, keeping only keys that exist here (method.md §1.1, utils.py:L34-42)."""
        blob = torch.load(path, map_location="cpu", weights_only=False)
        state = blob.get("model", blob) if isinstance(blob, dict) else blob
        if any(k.startswith("encoder.") for k in state):
            state = {k[len("encoder.") :]: v for k, v in state.items() if k.startswith("encoder.")}
        own = self.state_dict()
        usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        if not usable:
            raise ValueError(f"{path} holds no weights matching a ResNet-{self.layers} encoder")
        self.load_state_dict(usable, strict=False)
        log.info("loaded %d/%d encoder tensors from %s", len(usable), len(own), path)


def imagenet_weights_file(layers: int) -> Path:
    """Where torchvision keeps (and looks for) its IMAGENET1K_V1 ResNet-`layers` file: the torch hub cache
    ($TORCH_HOME/hub/checkpoints), under torchvision's own file name, e.g. resnet18-f37072fd.pth."""
    tv = import_torchvision()
    url = getattr(tv.models, _IMAGENET_WEIGHTS[layers]).IMAGENET1K_V1.url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def imagenet_or_none(layers: int) -> str | None:
    """ "imagenet" when torchvision's ImageNet file for ResNet-`layers` is on this machine, else None with a warning:
    for runs that should start from ImageNet where it exists (the supervised baseline, method.md §5) but must also
    run offline. Asking for `weights="imagenet"` directly downloads the file, and fails without a network."""
    path = imagenet_weights_file(layers)
    if path.is_file():
        return "imagenet"
    log.warning("no ImageNet weights for ResNet-%d at %s: random initialisation (download %s there to use them)",
                layers, path, path.name)  # fmt: skip
    return None


def _widen_conv1(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    """conv1 for `in_channels` inputs: the RGB kernel tiled and divided by the tile count, so a stack of identical
    frames gives the pretrained response (method.md §1.3: pose net = RGB weights repeated twice, /2)."""
    new = nn.Conv2d(in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=False)
    reps = -(-in_channels // 3)  # ceil
    with torch.no_grad():
        new.weight.copy_(conv.weight.repeat(1, reps, 1, 1)[:, :in_channels] / reps)  # (64, C, 7, 7)
    return new
