"""Write a synthetic street world in the Cityscapes layout, with true depth and ego-motion on the side.

Layout under `out` (`method.md` §6, plus `truth/` and `world.json`):

    leftImg8bit_sequence/{split}/<city>/<city>_<seq:06d>_<frame:06d>_leftImg8bit.png   every frame
    leftImg8bit/{split}/<city>/<name>_leftImg8bit.png                                  annotated centre frames
    gtFine/{split}/<city>/<name>_gtFine_labelIds.png, <name>_gtFine_color.png
    camera/{split}/<city>/<name>_camera.json        Cityscapes format, plus imgWidth/imgHeight
    truth/{split}/<city>/<name>_depth.png           uint16, metres × 256, 0 = no depth (sky, beyond 250 m)
    truth/{split}/<city>/<name>_pose.json           {"cam_to_world": {"-1": 4×4, "0": 4×4, "1": 4×4}}
    world.json                                      seed, size, counts, archetype per sequence

`<name>` is `<city>_<seq:06d>_000019`: like Cityscapes, the annotated frame is number 19 and its neighbours are
18 and 20. The transform from camera t to camera s is inv(cam_to_world[s]) @ cam_to_world[0].
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from contracts.camera import FX_PER_WIDTH  # Cityscapes focal length relative to the image width (§2.1)
from contracts.cityscapes import colorize, train_ids_to_label_ids
from models.data.synth.layout import ARCHETYPES, build_scene, sample_archetype
from models.data.synth.render import render

log = logging.getLogger(__name__)

ANNOTATED_FRAME = 19
TRAIN_CITIES = ("ashford", "bramley", "corvin", "dunholm")
VAL_CITIES = ("elmstead", "fairhaven")


def intrinsics(size: tuple[int, int]) -> np.ndarray:
    """The world's 3×3 K for an (H, W) image: Cityscapes' focal length per width, principal point at the centre."""
    H, W = size
    f = FX_PER_WIDTH * W
    return np.array([[f, 0.0, (W - 1) / 2], [0.0, f, (H - 1) / 2], [0.0, 0.0, 1.0]])


@dataclass
class SequenceInfo:
    index: int
    split: str
    city: str
    seq: int
    name: str
    archetype: str


@dataclass
class WorldSummary:
    """What `generate_world` wrote."""

    out: Path
    size: tuple[int, int]
    seed: int
    frames: int
    sequences: list[SequenceInfo] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(s.split for s in self.sequences))

    @property
    def archetypes(self) -> dict[str, int]:
        return dict(Counter(s.archetype for s in self.sequences))


def plan_sequences(sequences: int, seed: int, val_fraction: float) -> list[SequenceInfo]:
    """Split, city, sequence number and archetype of each sequence; depends only on (sequences, seed, val_fraction)."""
    rng = np.random.default_rng([seed, 1])
    n_val = int(round(sequences * val_fraction))
    is_val = np.zeros(sequences, dtype=bool)
    is_val[rng.permutation(sequences)[:n_val]] = True
    counters: Counter = Counter()
    plan = []
    for i in range(sequences):
        split = "val" if is_val[i] else "train"
        cities = VAL_CITIES if is_val[i] else TRAIN_CITIES
        city = cities[int(rng.integers(len(cities)))]
        seq = counters[city]
        counters[city] += 1
        name = f"{city}_{seq:06d}_{ANNOTATED_FRAME:06d}"
        plan.append(SequenceInfo(i, split, city, seq, name, sample_archetype(rng)))
    return plan


def _save_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, compress_level=1)


def write_sequence(
    out: Path, info: SequenceInfo, size: tuple[int, int], seed: int, frames: int, antialias: int = 1
) -> None:
    """Render and write one sequence (all frames, the annotated frame's label, camera, truth)."""
    scene = build_scene(seed, info.index, info.archetype, frames)
    K = intrinsics(size)
    sub = Path(info.split) / info.city
    for offset in sorted(scene.cam_to_world):
        frame = render(scene, offset, K, size, antialias=antialias)
        stem = f"{info.city}_{info.seq:06d}_{ANNOTATED_FRAME + offset:06d}"
        _save_png(out / "leftImg8bit_sequence" / sub / f"{stem}_leftImg8bit.png", frame.rgb)
        if offset != 0:
            continue
        _save_png(out / "leftImg8bit" / sub / f"{stem}_leftImg8bit.png", frame.rgb)
        _save_png(out / "gtFine" / sub / f"{stem}_gtFine_labelIds.png", train_ids_to_label_ids(frame.train_ids))
        _save_png(out / "gtFine" / sub / f"{stem}_gtFine_color.png", colorize(frame.train_ids))
        depth = np.round(np.clip(frame.depth, 0, 65535 / 256) * 256).astype(np.uint16)
        _save_png(out / "truth" / sub / f"{stem}_depth.png", depth)
    camera = {
        "extrinsic": {"baseline": 0.0, "pitch": 0.0, "roll": 0.0, "yaw": 0.0, "x": 0.0, "y": 0.0, "z": 0.0},
        "intrinsic": {"fx": K[0, 0], "fy": K[1, 1], "u0": K[0, 2], "v0": K[1, 2]},
        "imgWidth": size[1],
        "imgHeight": size[0],
    }
    (out / "camera" / sub).mkdir(parents=True, exist_ok=True)
    (out / "camera" / sub / f"{info.name}_camera.json").write_text(json.dumps(camera, indent=1))
    pose = {"cam_to_world": {str(k): T.tolist() for k, T in sorted(scene.cam_to_world.items())}}
    (out / "truth" / sub / f"{info.name}_pose.json").write_text(json.dumps(pose))


def read_archetypes(root: Path) -> dict[str, str]:
    """{annotated frame name: archetype} from a world's `world.json` (for measuring coverage of rare scenes)."""
    manifest = json.loads((Path(root) / "world.json").read_text())
    return {s["name"]: s["archetype"] for s in manifest["sequences"]}


def generate_world(
    out: Path,
    *,
    sequences: int,
    size: tuple[int, int],
    seed: int,
    val_fraction: float = 0.2,
    frames: int = 3,
    workers: int = 1,
    antialias: int = 1,
) -> WorldSummary:
    """Render `sequences` street sequences of `frames` frames at `size = (H, W)` into `out` (Cityscapes layout).

    Deterministic in all arguments: the same call writes the same bytes. `frames` must be odd (the annotated
    frame is the middle one). `workers` > 1 renders sequences in that many processes (same bytes: every sequence
    has its own generator). `antialias=3` averages 3×3 samples per pixel (9× slower; see `render`). Returns a
    `WorldSummary`; also writes `out/world.json`.
    """
    if sequences < 1 or frames < 3 or frames % 2 == 0:
        raise ValueError(f"need sequences ≥ 1 and an odd frames ≥ 3, got sequences={sequences} frames={frames}")
    if min(size) < 8:
        raise ValueError(f"size {size} is too small")
    if antialias < 1 or antialias % 2 == 0:
        raise ValueError(f"antialias must be an odd number ≥ 1, got {antialias}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    out = Path(out)
    start = time.perf_counter()
    summary = WorldSummary(out=out, size=tuple(size), seed=seed, frames=frames)
    plan = plan_sequences(sequences, seed, val_fraction)
    if workers > 1:
        ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            jobs = [pool.submit(write_sequence, out, info, tuple(size), seed, frames, antialias) for info in plan]
            for job in jobs:
                job.result()
    else:
        for info in plan:
            write_sequence(out, info, tuple(size), seed, frames, antialias)
    summary.sequences.extend(plan)
    summary.seconds = time.perf_counter() - start
    manifest = {
        "seed": seed,
        "size": list(size),
        "frames": frames,
        "antialias": antialias,
        "annotated_frame": ANNOTATED_FRAME,
        "counts": summary.counts,
        "archetypes": summary.archetypes,
        "archetype_frequencies": ARCHETYPES,
        "sequences": [
            {"name": s.name, "split": s.split, "city": s.city, "seq": s.seq, "archetype": s.archetype}
            for s in summary.sequences
        ],
    }
    (out / "world.json").write_text(json.dumps(manifest, indent=1))
    log.info("wrote %d sequences (%s) to %s in %.1f s", sequences, summary.counts, out, summary.seconds)
    return summary
