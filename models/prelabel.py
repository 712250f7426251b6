"""Pre-labels: the segmentation model's prediction for images about to be annotated (design.md "Who uses it").

For each image: a single-channel PNG of class ids at the image's own size (what an annotator can correct and submit
back as a `train_ids` mask) and an RGB overlay (the image blended with the class colours) for people to look at.
The network runs at the round's size; logits are resized bilinearly to the file's size before the arg-max.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from contracts.cityscapes import CITYSCAPES_CLASSES, load_image
from models.progress import Progress
from models.seg_train import load_seg_model

OVERLAY_ALPHA = 0.5  # weight of the class colour in the overlay


def cityscapes_palette() -> np.ndarray:
    """(256, 3) uint8: the 19 Cityscapes colours at their train ids, black elsewhere (ignore)."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    for t, (_, rgb) in enumerate(CITYSCAPES_CLASSES):
        palette[t] = rgb
    return palette


def overlay(image: np.ndarray, class_ids: np.ndarray, palette: np.ndarray, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """Blend an RGB image (H, W, 3) uint8 with the colours of its class ids (H, W): (H, W, 3) uint8."""
    colours = palette[class_ids.astype(np.uint8)].astype(np.float32)
    return np.clip((1 - alpha) * image.astype(np.float32) + alpha * colours + 0.5, 0, 255).astype(np.uint8)


def _save_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(array).save(tmp, format="PNG")
    tmp.replace(path)  # atomic: a reader never sees half a pre-label


@torch.no_grad()
def write_prelabels(
    seg_checkpoint: Path,
    images: Sequence[Path],
    class_paths: Sequence[Path],
    overlay_paths: Sequence[Path],
    *,
    size: tuple[int, int] | None,
    device: torch.device,
    palette: np.ndarray | None = None,
    progress: Progress | None = None,
) -> None:
    """Predict each image and write its class-id PNG and overlay PNG (same index in the three lists).

    Args:
        seg_checkpoint: a segmentation checkpoint (`models.seg_train`).
        size: (H, W) the network sees (the round's training size); None = the file's size.
        palette: (256, 3) uint8 class colours by class id; default the Cityscapes colours.
    """
    if not len(images) == len(class_paths) == len(overlay_paths):
        raise ValueError("images, class_paths and overlay_paths must have the same length")
    model = load_seg_model(seg_checkpoint, device)
    palette = cityscapes_palette() if palette is None else palette
    for k, (path, out_ids, out_rgb) in enumerate(zip(images, class_paths, overlay_paths, strict=True)):
        native = load_image(path)  # (H, W, 3) uint8
        x = native if size is None else load_image(path, size)
        tensor = torch.from_numpy(x).permute(2, 0, 1)[None].float().div(255.0).to(device)  # (1, 3, h, w)
        logits = model(tensor)["seg"].float()  # (1, C, h, w)
        if logits.shape[-2:] != native.shape[:2]:
            logits = F.interpolate(logits, size=native.shape[:2], mode="bilinear", align_corners=False)
        ids = logits.argmax(1)[0].to(torch.uint8).cpu().numpy()  # (H, W)
        _save_png(Path(out_ids), ids)
        _save_png(Path(out_rgb), overlay(native, ids, palette))
        if progress is not None:
            progress("predict", (k + 1) / len(images), f"{k + 1}/{len(images)} pre-labels")
