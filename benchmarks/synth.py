"""Rendering speed of the synthetic street world on one core, and the cost of writing a whole world.

    OMP_NUM_THREADS=1 python -m benchmarks.synth [--quick]

Prints a markdown table: frames/s of `render` per archetype mix at 128×256 and 256×512 (single process; numpy
is pinned to one thread by the environment variable), then the wall time of `generate_world` (render + PNG
writing) for a 300-sequence world at 128×256.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from models.data.synth import build_scene, generate_world, intrinsics, render
from models.data.synth.layout import sample_archetype


def frames_per_second(size: tuple[int, int], sequences: int, repeats: int = 3) -> dict[str, float]:
    """Rendering speed over `sequences` scenes drawn with the archetype frequencies, 3 frames each.

    Returns frames/s from wall time (mean and best of `repeats` per frame) and from the process's CPU time. On a
    shared machine the wall-time figures include waiting for the core; CPU time counts only this process's work.
    """
    rng = np.random.default_rng(0)
    scenes = [build_scene(0, i, sample_archetype(rng)) for i in range(sequences)]
    K = intrinsics(size)
    render(scenes[0], 0, K, size)  # warm-up
    best, wall, cpu = [], 0.0, 0.0
    for scene in scenes:
        for offset in (-1, 0, 1):
            times = []
            for _ in range(repeats):
                start, start_cpu = time.perf_counter(), time.process_time()
                render(scene, offset, K, size)
                times.append(time.perf_counter() - start)
                cpu += time.process_time() - start_cpu
            best.append(min(times))
            wall += sum(times)
    n = len(best) * repeats
    return {"wall": n / wall, "best": len(best) / sum(best), "cpu": n / cpu,
            "boxes": float(np.mean([len(s.boxes) for s in scenes]))}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.synth", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer scenes, 30-sequence world")
    parser.add_argument("--workers", type=int, default=1, help="processes for the world-writing row")
    args = parser.parse_args()
    n = 10 if args.quick else 40
    world_sequences = 30 if args.quick else 300
    print(f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, {n} scenes × 3 frames per size\n")
    print("| size (H×W) | frames/s (wall, mean) | frames/s (wall, best of 3) | frames/s (CPU time) | ms/frame (CPU) "
          "| boxes/scene |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for size in ((128, 256), (256, 512)):
        r = frames_per_second(size, n)
        print(f"| {size[0]}×{size[1]} | {r['wall']:.1f} | {r['best']:.1f} | {r['cpu']:.1f} | {1000 / r['cpu']:.1f} "
              f"| {r['boxes']:.0f} |")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        generate_world(Path(tmp), sequences=world_sequences, size=(128, 256), seed=0, workers=args.workers)
        seconds = time.perf_counter() - start
        mb = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file()) / 1e6
    print("\n| world | workers | sequences | frames | wall s | MB on disk |\n|---|---|---|---|---|---|")
    frames = 3 * world_sequences
    print(f"| 128×256, seed 0 | {args.workers} | {world_sequences} | {frames} | {seconds:.1f} | {mb:.1f} |")


if __name__ == "__main__":
    main()
