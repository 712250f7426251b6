"""Pinhole intrinsics for imported frames (docs/data.md, "Video and frame sequences"): from a calibration, a focal
length in pixels, a horizontal field of view, or the documented default. Torch-free: the API checks the bounds,
the worker computes K.

Intrinsics are a dict `{fx, fy, u0, v0}` in pixels of the image they describe (the `image.intrinsics` column).
"""

from __future__ import annotations

import math

# The default when nothing better is known: Cityscapes' focal length per image width (fx = 2262.52 px at 2048 px,
# a horizontal field of view of 48.7°), square pixels, principal point at the image centre. Dash-cams are often
# wider (90-120°): give `hfov_deg` or `focal_px` when you know it. The round uses the same default for an image
# that has no intrinsics at all.
FX_PER_WIDTH = 2262.52 / 2048
DEFAULT_WARNING = (
    "no camera calibration, focal length or field of view given: using the default intrinsics (Cityscapes' focal "
    "length per image width, a 48.7° horizontal field of view); depth will be off in scale and shape if the camera "
    "differs, so give hfov_deg or focal_px"
)


def hfov_from_focal(width: int, fx: float) -> float:
    """Horizontal field of view in degrees of a `width`-pixel image with focal length `fx` pixels."""
    return math.degrees(2 * math.atan(width / (2 * fx)))


def focal_from_hfov(width: int, hfov_deg: float) -> float:
    """Focal length in pixels that gives a `width`-pixel image a horizontal field of view of `hfov_deg` (0, 180)."""
    if not 0 < hfov_deg < 180:
        raise ValueError(f"a horizontal field of view must be in (0°, 180°), got {hfov_deg}")
    return width / (2 * math.tan(math.radians(hfov_deg) / 2))


def centred(width: int, height: int, fx: float, fy: float | None = None) -> dict[str, float]:
    """Square pixels unless `fy` is given; principal point on the centre pixel (pixel centres at integers)."""
    return {"fx": float(fx), "fy": float(fy if fy is not None else fx), "u0": (width - 1) / 2, "v0": (height - 1) / 2}


def choose_intrinsics(
    width: int,
    height: int,
    *,
    calibration: dict[str, float] | None = None,
    focal_px: float | None = None,
    hfov_deg: float | None = None,
) -> tuple[dict[str, float], str, str | None]:
    """(intrinsics, source, warning) for `width`×`height` frames, the first that is known of: a calibration
    (already in pixels of these frames), a focal length in pixels, a horizontal field of view, the default.

    source is "calibration", "focal_px", "hfov_deg" or "default"; the warning is None except for the default."""
    if calibration is not None:
        return {k: float(calibration[k]) for k in ("fx", "fy", "u0", "v0")}, "calibration", None
    if focal_px is not None:
        if not (math.isfinite(focal_px) and focal_px > 0):
            raise ValueError(f"a focal length must be a positive number of pixels, got {focal_px}")
        return centred(width, height, focal_px), "focal_px", None
    if hfov_deg is not None:
        return centred(width, height, focal_from_hfov(width, hfov_deg)), "hfov_deg", None
    return centred(width, height, FX_PER_WIDTH * width), "default", DEFAULT_WARNING


def scale(intrinsics: dict[str, float], from_size: tuple[int, int], to_size: tuple[int, int]) -> dict[str, float]:
    """Intrinsics of an image resized from `from_size` to `to_size` (both (H, W)); the pixel-centre convention of
    `contracts.cityscapes.scale_intrinsics`: u → (u + 0.5)·s − 0.5, fx → fx·s."""
    sy, sx = to_size[0] / from_size[0], to_size[1] / from_size[1]
    return {"fx": intrinsics["fx"] * sx, "fy": intrinsics["fy"] * sy,
            "u0": (intrinsics["u0"] + 0.5) * sx - 0.5, "v0": (intrinsics["v0"] + 0.5) * sy - 0.5}  # fmt: skip
