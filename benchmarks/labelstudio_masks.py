"""What a Label Studio annotation and a pre-label cost depthal at Cityscapes' 2048×1024 (service/labelstudio/).

    python -m benchmarks.labelstudio_masks            # 2048×1024, 5 repeats
    python -m benchmarks.labelstudio_masks --quick    # 512×256, 1 repeat

Label Studio waits for depthal's webhook answer while the annotator's Submit is in flight, so taking an annotation
(decode every region's RLE, merge them) should stay well under a second. Annotations are built as the worst case
for the decoder: each region's RGBA canvas (a colour where painted, alpha 255) packed as literal words wherever it
is painted (four different bytes per pixel: no runs), runs only where nothing is. A pre-label is a 19-class
train-id map of vertical stripes; encoding it is the push's cost per image, and the JSON size is what one task's
prediction weighs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import numpy as np

from service.labelstudio import rle
from service.labelstudio.labels import merge_regions, prediction_results

CLASSES = 19


def editor_rle(region: np.ndarray, colour: tuple[int, int, int]) -> list[int]:
    """One region packed with literal chunks where painted and runs where not (the decoder's worst case)."""
    h, w = region.shape
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[region] = (*colour, 255)
    values = rgba.ravel()
    parts = [f"{values.size:032b}", f"{7:05b}", "".join(f"{b - 1:04b}" for b in (3, 4, 8, 16))]
    painted = np.repeat(region.ravel(), 4)
    edges = np.flatnonzero(np.diff(painted.astype(np.int8))) + 1
    bounds = [0, *edges.tolist(), values.size]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        for s in range(a, b, 65536):
            n = min(65536, b - s)
            if painted[s]:
                words = np.unpackbits(values[s : s + n]) + ord("0")
                parts.append(f"011{n - 1:016b}" + words.tobytes().decode())
            else:
                parts.append(f"111{n - 1:016b}{0:08b}")
    stream = "".join(parts)
    stream += "0" * (-len(stream) % 8)
    return np.packbits(np.frombuffer(stream.encode(), np.uint8) - ord("0")).tolist()


def timed(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    h, w = (256, 512) if args.quick else (1024, 2048)
    repeat = 1 if args.quick else args.repeat
    names = {k: f"class{k}" for k in range(CLASSES)}
    ids = (np.arange(w)[None, :] * CLASSES // w).repeat(h, 0).astype(np.uint8)  # (H, W) stripes
    half = np.zeros((h, w), bool)
    half[:, : w // 2] = True

    def annotation(regions: list[tuple[np.ndarray, int]]) -> list[dict[str, object]]:
        return [{"type": "brushlabels", "from_name": "label", "original_width": w, "original_height": h,
                 "value": {"format": "rle", "rle": editor_rle(mask, (k, 2 * k, 3 * k)), "brushlabels": [names[k]]}}
                for mask, k in regions]  # fmt: skip

    one, many = annotation([(half, 0)]), annotation([(ids == k, k) for k in range(CLASSES)])
    by_name = {v: k for k, v in names.items()}
    prediction = prediction_results(ids, names)

    def mib(value: object) -> str:
        return f"{len(json.dumps(value)) / 2**20:.1f} MiB"

    rle_one = one[0]["value"]["rle"]  # type: ignore[index]
    rows = [
        ("decode one region, half the image painted", timed(lambda: rle.decode(rle_one, width=w, height=h), repeat),
         "", ""),
        ("take an annotation of 1 region (decode + merge)",
         timed(lambda: merge_regions(one, classes=by_name, width=w, height=h), repeat), mib(one), "≤ 1000 ms"),
        (f"take an annotation of {CLASSES} regions covering the image",
         timed(lambda: merge_regions(many, classes=by_name, width=w, height=h), repeat), mib(many), "≤ 1000 ms"),
        (f"encode a {CLASSES}-class pre-label as a prediction", timed(lambda: prediction_results(ids, names), repeat),
         mib(prediction), ""),
    ]  # fmt: skip
    print(f"| step at {w}×{h} | median ms | JSON | target |")
    print("|---|---|---|---|")
    for name, ms, size, target in rows:
        print(f"| {name} | {ms:.0f} | {size} | {target} |")


if __name__ == "__main__":
    main()
