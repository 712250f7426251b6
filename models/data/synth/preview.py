"""Contact sheet of a written world: per row t-1, t, t+1, the label colours and the true depth, one row per scene."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from contracts.cityscapes import colorize, find_frames, load_depth, load_image, load_label
from models.data.synth.layout import ARCHETYPES


def depth_colors(depth: np.ndarray, max_depth: float = 80.0) -> np.ndarray:
    """Depth (H, W) metres -> RGB uint8 with matplotlib's magma on inverse depth; no depth (0) is light grey."""
    from matplotlib import colormaps

    inv = np.where(depth > 0, 1.0 / np.maximum(depth, 1e-3), 0.0)
    lo = 1.0 / max_depth
    x = np.clip((inv - lo) / (1.0 / 2.0 - lo), 0, 1) ** 0.5
    rgb = (colormaps["magma"](x)[..., :3] * 255).astype(np.uint8)
    rgb[depth <= 0] = 215  # no depth (sky): light grey, apart from the dark far end of the map
    return rgb


def contact_sheet(root: Path, rows: int = len(ARCHETYPES), width: int = 256) -> np.ndarray:
    """One row per sequence, preferring one of each archetype (in world.json order): prev, t, next, label, depth."""
    root = Path(root)
    manifest = json.loads((root / "world.json").read_text())
    by_name = {r.name: r for split in ("train", "val") for r in find_frames(root, split)}
    chosen, seen = [], set()
    for pass_ in (0, 1):  # first one per archetype, then fill up
        for s in manifest["sequences"]:
            if len(chosen) < rows and s["name"] in by_name and s["name"] not in chosen:
                if pass_ == 1 or s["archetype"] not in seen:
                    chosen.append(s["name"])
                    seen.add(s["archetype"])
    H, W = manifest["size"]
    size = (max(1, round(H * width / W)), width)
    archetype = {s["name"]: s["archetype"] for s in manifest["sequences"]}
    out = []
    for name in chosen:
        rec = by_name[name]
        tiles = [load_image(p, size) for p in (rec.prev, rec.image, rec.next)]
        first = Image.fromarray(tiles[0])
        ImageDraw.Draw(first).text((3, 2), archetype[name], fill=(255, 255, 255), stroke_width=1, stroke_fill=(0, 0, 0))
        tiles[0] = np.asarray(first)
        tiles.append(colorize(load_label(rec.label, size)))
        tiles.append(depth_colors(load_depth(rec.depth, size)))
        out.append(np.concatenate([np.pad(t, ((1, 1), (1, 1), (0, 0)), constant_values=255) for t in tiles], 1))
    return np.concatenate(out, 0)


def write_preview(
    root: Path, path: Path | None = None, rows: int = len(ARCHETYPES), width: int = 256, colours: int | None = None
) -> Path:
    """Write the contact sheet (default `root/preview.png`); `colours` quantises to a palette for a small file."""
    path = Path(path) if path is not None else Path(root) / "preview.png"
    im = Image.fromarray(contact_sheet(root, rows, width))
    if colours is not None:
        im = im.quantize(colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    im.save(path, optimize=True)
    return path
