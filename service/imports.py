"""Finding and checking image files before they become rows: server folders (plain, or Cityscapes layout with
sequence neighbours and camera intrinsics) and uploads. Filesystem only; `crud.images.add_images` stores them.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image as PILImage

from contracts.cityscapes import DataError, find_frames
from service import storable
from service.config import get_settings
from service.db.tables import ImageRole
from service.errors import Forbidden, Invalid, NotFound

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
_FORMATS = {"PNG": ".png", "JPEG": ".jpg"}
# An upload is decoded in the request's thread only up to this many pixels (≈ 24 MB of RGB; a Cityscapes frame is
# 2 M). Larger ones are checked in bounded memory instead: a PNG's chunks and CRCs are walked, a JPEG is decoded at
# 1/8 scale (its DCT scaling: every entropy-coded byte read, 1/64 of the pixels kept); the `validate_images` job
# decodes everything fully later. Before: a 64 M-pixel upload held ≈ 190 MB per request (issue 19).
DECODE_IN_REQUEST_PIXELS = 8_000_000


@dataclass
class Candidate:
    """One image to add: where its files are now, and what was learned by inspecting them."""

    name: str
    source: Path
    role: ImageRole
    prev: Path | None = None
    next: Path | None = None
    intrinsics: dict[str, float] | None = None
    width: int = 0
    height: int = 0
    checksum: str = ""
    suffixes: dict[str, str] = field(default_factory=dict)  # frame ("t", "prev", "next") → ".png" | ".jpg"


def shown(path: Path, root: Path) -> str:
    """How an error names a server path: relative to the import root, never the server's own layout (issue 19)."""
    try:
        return path.relative_to(root).as_posix() or "."
    except ValueError:
        return "<outside the import root>"


def inside_root(path: Path, root: Path, *, what: str) -> Path:
    """Resolve symlinks and refuse anything outside the import root. The refusal names the path as given, relative
    to the root: neither the root's place on the server nor a symlink's target."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise Forbidden(f"{what} leads outside the import root (a symlink or '..')")
    return resolved


def resolve_import_dir(path: str, root: Path) -> Path:
    folder = inside_root(root / path, root, what=f"import path {path!r}")
    if not folder.is_dir():
        raise NotFound(f"import path {path!r} is not a folder under the import root")
    return folder


def scan(
    folder: Path, root: Path, *, layout: str, role: ImageRole | None, missing_camera: str = "error"
) -> list[Candidate]:
    """List the images of a folder; every file (and neighbour) must resolve inside the import root."""
    if layout == "auto":
        layout = "cityscapes" if (folder / "leftImg8bit").is_dir() else "plain"
    where = shown(folder, root.resolve())
    try:
        found = _scan_cityscapes(folder, role, missing_camera) if layout == "cityscapes" else _scan_plain(folder, role)
    except Invalid as err:
        raise Invalid(err.detail.replace(str(folder), where)) from None
    for cand in found:
        cand.source = inside_root(cand.source, root, what=f"file {shown(cand.source, root)!r}")
        for attr in ("prev", "next"):
            if (p := getattr(cand, attr)) is not None:
                setattr(cand, attr, inside_root(p, root, what=f"file {shown(p, root)!r}"))
    if not found:
        raise Invalid(f"no {layout} images (.png, .jpg) found under {where!r}")
    return found


def _scan_plain(folder: Path, role: ImageRole | None) -> list[Candidate]:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and not p.is_dir())
    return [Candidate(name=p.relative_to(folder).as_posix(), source=p, role=role or ImageRole.POOL) for p in files]


def _scan_cityscapes(folder: Path, role: ImageRole | None, missing_camera: str) -> list[Candidate]:
    """Every split under leftImg8bit/, read with the data reader (`contracts.cityscapes.find_frames`, torch-free):
    neighbours from leftImg8bit_sequence when present, intrinsics from camera/ scaled to the image's size."""
    if not (folder / "leftImg8bit").is_dir():
        raise Invalid(f"layout 'cityscapes' needs a leftImg8bit/ folder under {folder}; none is there")
    found = []
    for split_dir in sorted(p for p in (folder / "leftImg8bit").iterdir() if p.is_dir()):
        try:
            records = find_frames(
                folder, split_dir.name, require_neighbours=False, verify=False, missing_camera=missing_camera
            )
        except DataError as err:
            raise Invalid(f"Cityscapes import: {err}") from err
        split_role = ImageRole.VAL if split_dir.name == "val" else ImageRole.POOL
        for rec in records:
            K = rec.K  # (3, 3) in pixels of this image
            intrinsics = {"fx": float(K[0, 0]), "fy": float(K[1, 1]), "u0": float(K[0, 2]), "v0": float(K[1, 2])}
            found.append(
                Candidate(
                    name=rec.image.name,
                    source=rec.image,
                    role=role or split_role,
                    prev=rec.prev,
                    next=rec.next,
                    intrinsics=intrinsics,
                )
            )
    return found


def inspect(path: Path, *, what: str, full_decode: bool) -> tuple[int, int, str, str]:
    """(width, height, sha256, suffix) of a PNG or JPEG file; truncated or other files raise Invalid naming `what`."""
    try:
        with PILImage.open(path) as img:
            if img.format not in _FORMATS:
                raise Invalid(f"{what} is a {img.format} file; only PNG and JPEG images are accepted")
            size, suffix = img.size, _FORMATS[img.format]
            if size[0] * size[1] > (limit := get_settings().max_image_pixels):
                raise Invalid(
                    f"{what} is {size[0]}x{size[1]}, {size[0] * size[1]:,} pixels; images may have at most "
                    f"{limit:,} (DEPTHAL_MAX_IMAGE_PIXELS)"
                )
            if full_decode and size[0] * size[1] <= DECODE_IN_REQUEST_PIXELS:
                img.load()
            elif full_decode and img.format == "JPEG":
                img.draft("RGB", (size[0] // 8, size[1] // 8))  # decode at 1/8 scale: bounded memory
                img.load()
            else:
                img.verify()  # PNG: walks every chunk and checks its CRC, without decoding pixels
    except Invalid:
        raise
    except PILImage.DecompressionBombError as err:  # Pillow's own limit, met before the header is ours to read
        limit = get_settings().max_image_pixels
        raise Invalid(f"{what}: {err} Images may have at most {limit:,} pixels (DEPTHAL_MAX_IMAGE_PIXELS)") from err
    except Exception as err:
        raise Invalid(f"{what} is not a readable PNG/JPEG image (truncated or corrupt): {err}") from err
    return size[0], size[1], sha256_of(path), suffix


def sha256_of(path: Path) -> str:
    """A file's sha256, read in 1 MiB chunks (videos run to gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check(cand: Candidate, *, full_decode: bool) -> Candidate:
    """Fill size and checksum; neighbours must be readable and of the image's size."""
    if why := storable.text_problem(cand.name):  # an upload's file name, or a file on disk that is not UTF-8
        raise Invalid(f"image name {cand.name!r} {why}")
    cand.width, cand.height, cand.checksum, cand.suffixes["t"] = inspect(
        cand.source, what=cand.name, full_decode=full_decode
    )
    for attr in ("prev", "next"):
        if (p := getattr(cand, attr)) is not None:
            w, h, _, cand.suffixes[attr] = inspect(p, what=f"{attr} frame of {cand.name}", full_decode=full_decode)
            if (w, h) != (cand.width, cand.height):
                raise Invalid(f"{attr} frame of {cand.name} is {w}x{h} but the image is {cand.width}x{cand.height}")
    return cand


def parse_intrinsics(text: str | None) -> dict[str, float] | None:
    if not text:
        return None
    try:
        raw = json.loads(text)
        values = {k: float(raw[k]) for k in ("fx", "fy", "u0", "v0")}
    except (ValueError, KeyError, TypeError) as err:
        raise Invalid(f"intrinsics must be JSON with numbers fx, fy, u0, v0 ({err})") from err
    bad = [k for k, v in values.items() if not math.isfinite(v) or (k in ("fx", "fy") and v <= 0)]
    if bad:
        raise Invalid(f"intrinsics {', '.join(bad)} must be finite, and focal lengths positive: {values}")
    return values
