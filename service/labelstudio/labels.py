"""A Label Studio annotation → one train-id mask (H, W) uint8, 255 = ignore.

Each `brushlabels` result is one region (an instance: regions may overlap) with one label, decoded from its RLE
(`rle.py`). Merge rule, deterministic from the annotation's JSON alone: pixels no region covers are ignore (255);
where regions overlap, the region listed later in `result` wins. Label Studio lists regions in the order they were
created and draws later ones on top, so the stored mask is what the annotator saw in the editor.

Refused (Invalid, nothing stored): a label that is not one of the project's classes, a region whose size is not the
image's, a result of another type than `brushlabels`, a region with no label or several.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from contracts.cityscapes import IGNORE_INDEX
from service.errors import Invalid
from service.labelstudio import rle
from service.labelstudio.config import FROM_NAME


def merge_regions(
    results: Sequence[Mapping[str, Any]], *, classes: Mapping[str, int], width: int, height: int
) -> np.ndarray:
    """`classes`: class name → train id. Returns (H, W) uint8 train ids."""
    mask = np.full((height, width), IGNORE_INDEX, dtype=np.uint8)
    for k, result in enumerate(results):
        kind = str(result.get("type", "")).lower()
        if kind != "brushlabels" or result.get("from_name") != FROM_NAME:
            raise Invalid(
                f"region {k} is a {kind or 'typeless'} result from {result.get('from_name')!r}; only "
                f"brushlabels from {FROM_NAME!r} are taken"
            )
        value = result.get("value") or {}
        names = value.get("brushlabels") or []
        if len(names) != 1:
            raise Invalid(f"region {k} has {len(names)} labels; a brush region needs exactly one")
        if names[0] not in classes:
            raise Invalid(
                f"region {k} has the unknown label {names[0]!r}; the project's classes are {', '.join(classes)}"
            )
        size = (result.get("original_width"), result.get("original_height"))
        if size != (width, height):
            raise Invalid(f"region {k} is {size[0]}x{size[1]} but the image is {width}x{height}")
        if value.get("format", "rle") != "rle" or "rle" not in value:
            raise Invalid(f"region {k} has no RLE brush mask")
        region = rle.decode(value["rle"], width=width, height=height)  # (H, W) bool
        mask[region] = classes[names[0]]
    return mask


def prediction_results(ids: np.ndarray, classes: Mapping[int, str]) -> list[dict[str, Any]]:
    """A train-id pre-label (H, W) → one brushlabels result per class present (ignore and unknown ids left out)."""
    height, width = ids.shape
    present = np.flatnonzero(np.bincount(ids.ravel(), minlength=256))
    out = []
    for train_id in present.tolist():
        if train_id not in classes:
            continue
        out.append(
            {
                "from_name": FROM_NAME,
                "to_name": "image",
                "type": "brushlabels",
                "origin": "prediction",
                "original_width": width,
                "original_height": height,
                "image_rotation": 0,
                "value": {"format": "rle", "rle": rle.encode(ids == train_id), "brushlabels": [classes[train_id]]},
            }
        )
    return out
