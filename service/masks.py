"""Mask decoding and validation (numpy only, no per-pixel Python).

A mask arrives as a PNG in one of three formats and is stored as a single-channel PNG of train ids, 255 = ignore:
- `train_ids`: single-channel (L or P) PNG whose values are the project's class ids or 255;
- `palette`: RGB PNG whose colours are the project's class colours; black is ignore unless a class uses it;
- `label_ids`: single-channel Cityscapes labelIds (0..33), mapped with the official labelId → trainId table
  (`contracts.cityscapes`, torch-free).
Without an explicit format, single-channel means `train_ids` and RGB means `palette`.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from enum import StrEnum

import numpy as np
from PIL import Image as PILImage

from contracts.cityscapes import IGNORE_INDEX as IGNORE
from contracts.cityscapes import label_ids_to_train_ids
from service.errors import Invalid


class MaskFormat(StrEnum):
    TRAIN_IDS = "train_ids"
    PALETTE = "palette"
    LABEL_IDS = "label_ids"


_SINGLE_CHANNEL = {"L", "P"}
_MAX_NAMED = 10  # offending values listed in an error message
_IEND = b"IEND\xaeB`\x82"  # the last chunk of every complete PNG, with its CRC


def _name(values: Sequence[object]) -> str:
    shown = ", ".join(str(v) for v in values[:_MAX_NAMED])
    return shown + (f" (and {len(values) - _MAX_NAMED} more)" if len(values) > _MAX_NAMED else "")


def open_png(data: bytes, *, what: str = "mask") -> PILImage.Image:
    """Open PNG bytes and decode every pixel; truncated or non-PNG data raises Invalid."""
    try:
        img = PILImage.open(io.BytesIO(data))
    except PILImage.DecompressionBombError as err:  # declares more pixels than Pillow decodes: no image is so big
        raise Invalid(f"{what} is larger than any image may be: {err}") from err
    except Exception as err:
        raise Invalid(f"{what} is not a PNG image ({type(err).__name__})") from err
    if img.format != "PNG":
        raise Invalid(f"{what} must be a PNG; got {img.format}")
    if not data.endswith(_IEND):
        raise Invalid(f"{what} PNG is truncated: it does not end with an IEND chunk")
    return img


def _load(img: PILImage.Image, what: str) -> None:
    try:
        img.load()
    except Exception as err:
        raise Invalid(f"{what} PNG is truncated or corrupt: {err}") from err


def decode_mask(
    data: bytes,
    *,
    width: int,
    height: int,
    class_ids: Sequence[int],
    colors: Sequence[Sequence[int]],
    fmt: MaskFormat | None = None,
) -> np.ndarray:
    """Validate a mask upload against its image and the project's classes; returns (H, W) uint8 train ids."""
    img = open_png(data)
    if img.size != (width, height):
        raise Invalid(f"mask is {img.size[0]}x{img.size[1]} but the image is {width}x{height}")
    mode = img.mode
    if fmt is None:
        fmt = MaskFormat.PALETTE if mode == "RGB" else MaskFormat.TRAIN_IDS
    if fmt is MaskFormat.PALETTE:
        if mode not in {"RGB", "P"}:
            raise Invalid(f"a palette mask must be an RGB PNG; got mode {mode}")
        _load(img, "mask")
        return _from_palette(np.asarray(img.convert("RGB")), class_ids, colors)
    if mode not in _SINGLE_CHANNEL:
        raise Invalid(f"a {fmt} mask must be a single-channel (L or P) PNG; got mode {mode}")
    _load(img, "mask")
    ids = np.asarray(img, dtype=np.uint8)  # (H, W); for P, the palette indices
    if fmt is MaskFormat.LABEL_IDS:
        try:
            ids = label_ids_to_train_ids(ids)
        except ValueError as err:  # names the unknown ids
            raise Invalid(f"{err} (Cityscapes labelIds are 0..33)") from err
    _check_ids(ids, class_ids)
    return ids


def _check_ids(ids: np.ndarray, class_ids: Sequence[int]) -> None:
    allowed = np.zeros(256, dtype=bool)
    allowed[list(class_ids)] = True
    allowed[IGNORE] = True
    present = np.flatnonzero(np.bincount(ids.ravel(), minlength=256))
    bad = [int(v) for v in present if not allowed[v]]
    if bad:
        raise Invalid(
            f"class ids {_name(bad)} are not among the project's classes "
            f"({min(class_ids)}..{max(class_ids)}, 255 = ignore)"
        )


def _from_palette(rgb: np.ndarray, class_ids: Sequence[int], colors: Sequence[Sequence[int]]) -> np.ndarray:
    rgb = rgb.astype(np.uint32)
    keys = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]  # (H, W) packed colour
    uniq, inverse = np.unique(keys.ravel(), return_inverse=True)
    lookup = {(int(r) << 16) | (int(g) << 8) | int(b): cid for cid, (r, g, b) in zip(class_ids, colors, strict=True)}
    lookup.setdefault(0, IGNORE)
    mapped = np.array([lookup.get(int(k), -1) for k in uniq], dtype=np.int16)  # one entry per distinct colour
    if (mapped < 0).any():
        bad = [f"({k >> 16}, {(k >> 8) & 255}, {k & 255})" for k in uniq[mapped < 0].tolist()]
        raise Invalid(f"colours {_name(bad)} are not in the project's palette")
    return mapped.astype(np.uint8)[inverse].reshape(keys.shape)


def checksum(ids: np.ndarray) -> str:
    """Content checksum of a train-id mask: the same labels give the same value whatever format they came in."""
    digest = hashlib.sha256(f"{ids.shape[0]}x{ids.shape[1]}:".encode())
    digest.update(np.ascontiguousarray(ids, dtype=np.uint8).tobytes())
    return digest.hexdigest()


def encode_png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    PILImage.fromarray(array).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def colorize(ids: np.ndarray, class_ids: Sequence[int], colors: Sequence[Sequence[int]]) -> np.ndarray:
    """(H, W) train ids → (H, W, 3) uint8 colours; ignore and unknown ids are black."""
    lut = np.zeros((256, 3), dtype=np.uint8)
    for cid, color in zip(class_ids, colors, strict=True):
        lut[cid] = color
    return lut[ids]
