"""Video import speed and size, and the depth stage's data loading rate on the stored frames.

    OMP_NUM_THREADS=1 nice -n 10 python -m benchmarks.video_import [--quick]

1. Makes two clips with PyAV from the synthetic world (frames rendered at 270×480, upscaled and given σ = 2 sensor
   noise so the codecs see fine detail as in camera video): 1080p H.264 (.mp4, CRF 20) and 720p MJPEG (.avi).
2. Imports each as the `import_frames` job does (`models.data.video.decode` → `models.data.frame_store
   .store_frames`, JPEG q95 on 2 threads): frames/s (wall and CPU), the multiple of real time at 30 fps, and
   bytes on disk per stored frame next to the clip's own bytes per frame.
3. The depth stage's loader (`SequenceDataset`, one process; 1080p triplets resized to the method's depth input
   512×1024 and to the `small` preset's 256×512) on the stored JPEGs against the same frames stored as PNG:
   triplets/s.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from models.data.frame_store import frame_name, store_frames, triplets
from models.data.synth import build_scene, intrinsics, render
from models.data.video import decode

RENDER_SIZE = (270, 480)
CLIPS = {
    "1080p H.264 (.mp4)": ("h264", (1080, 1920), "clip.mp4"),
    "720p MJPEG (.avi)": ("mjpeg", (720, 1280), "clip.avi"),
}
LOADER_SIZES = ((512, 1024), (256, 512))  # H, W: the method's depth input (half Cityscapes), the `small` preset's


def source_frames(n: int) -> list[np.ndarray]:
    """`n` frames of one street scene driving forward, at RENDER_SIZE (rendered once, upscaled per clip)."""
    scene = build_scene(0, 1, "street", frames=n if n % 2 else n + 1)
    K = intrinsics(RENDER_SIZE)
    return [render(scene, k, K, RENDER_SIZE).rgb for k in range(-(n // 2), -(n // 2) + n)]


def write_clip(path: Path, frames: list[np.ndarray], codec: str, size: tuple[int, int]) -> None:
    import av

    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=30)
        stream.height, stream.width = size
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        if codec == "h264":
            stream.options = {"crf": "20", "preset": "veryfast"}
        for rgb in frames:
            big = np.asarray(Image.fromarray(rgb).resize(size[::-1], Image.Resampling.BICUBIC), dtype=np.int16)
            noisy = np.clip(big + rng.normal(0, 2.0, big.shape), 0, 255).astype(np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(noisy, format="rgb24")))
        container.mux(stream.encode())


def import_clip(path: Path, out: Path) -> dict[str, float]:
    start, cpu = time.perf_counter(), time.process_time()
    stored = store_frames(((f.index, f.time, f.rgb) for f in decode(path, stride=1)), out, stride=1, threads=2)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    jpeg_bytes = sum((out / frame_name(i)).stat().st_size for i in range(stored.count))
    return {"frames": stored.count, "fps": stored.count / wall, "cpu_fps": stored.count / cpu,
            "realtime": stored.count / wall / 30, "jpeg_kib": jpeg_bytes / stored.count / 1024,
            "clip_kib": path.stat().st_size / stored.count / 1024}  # fmt: skip


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024  # kB
    raise KeyError(field)


def _peak_rss_child(clip: str, out: str, queue: Any) -> None:
    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark (VmHWM) to the current RSS
    before = _status_mib("VmRSS")
    import_clip(Path(clip), Path(out))
    queue.put((before, _status_mib("VmHWM")))


def peak_memory(clip: Path, out: Path) -> tuple[float, float]:
    """(RSS before, peak RSS during) an import in a fresh process, MiB (Linux /proc): bounded memory means the peak
    does not grow with the clip's length."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_peak_rss_child, args=(str(clip), str(out), queue))
    child.start()
    before, peak = queue.get()
    child.join()
    return before, peak


def loader_rate(folder: Path, count: int, items: int, size: tuple[int, int]) -> float:
    """Triplets/s of SequenceDataset over the stored frames of `folder` (one process, resized to `size`)."""
    from contracts.cityscapes import FrameRecord
    from models.data.datasets import SequenceDataset

    K = np.array([[2000.0, 0, 959.5], [0, 2000.0, 539.5], [0, 0, 1]])
    recs = [FrameRecord(image=t, prev=p, next=n, label=None, K=K, split="train", city="b", name=t.stem)
            for p, t, n in triplets(folder, count)]  # fmt: skip
    data = SequenceDataset(recs, size=size, seed=0)
    data[0]  # warm-up
    start = time.perf_counter()
    for k in range(items):
        data[k % len(data)]
    return items / (time.perf_counter() - start)


def as_png(folder: Path, count: int, out: Path) -> Path:
    out.mkdir()
    for i in range(count):  # same names, PNG bytes: the loader opens by content
        Image.open(folder / frame_name(i)).save(out / frame_name(i), format="PNG", compress_level=1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.video_import", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30-frame clips, 10 loader items")
    args = parser.parse_args()
    n, items = (30, 10) if args.quick else (90, 30)
    print(f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, {n}-frame clips, cores: {os.cpu_count()}\n")
    rendered = source_frames(n // 2 + 1)
    frames = rendered + rendered[-2:0:-1]  # ping-pong: n frames from half as many renders
    frames = (frames * 2)[:n]
    rows, stored_1080 = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for label, (codec, size, name) in CLIPS.items():
            clip = Path(tmp) / name
            write_clip(clip, frames, codec, size)
            out = Path(tmp) / f"frames_{codec}"
            rows.append((label, import_clip(clip, out)))
            stored_1080 = stored_1080 or (out, rows[-1][1]["frames"])
        print("| clip | frames | import frames/s (wall) | frames/s (CPU time) | × real time (30 fps) | "
              "stored KiB/frame (JPEG q95) | clip KiB/frame |")  # fmt: skip
        print("|---|---|---|---|---|---|---|")
        for label, r in rows:
            print(f"| {label} | {r['frames']} | {r['fps']:.1f} | {r['cpu_fps']:.1f} | {r['realtime']:.2f} | "
                  f"{r['jpeg_kib']:.0f} | {r['clip_kib']:.0f} |")  # fmt: skip
        memory = []
        for repeat in (1, 3):  # the same 1080p clip, and one 3× as long: peak memory must not follow the length
            clip = Path(tmp) / f"long{repeat}.mp4"
            write_clip(clip, frames * repeat, "h264", CLIPS["1080p H.264 (.mp4)"][1])
            memory.append((len(frames) * repeat, *peak_memory(clip, Path(tmp) / f"mem{repeat}")))
        print("\n| 1080p H.264 import in a fresh process | RSS before the import (MiB) | peak RSS during it (MiB) |")
        print("|---|---|---|")
        for frames_n, before, after in memory:
            print(f"| {frames_n} frames | {before:.0f} | {after:.0f} |")
        folder, count = stored_1080
        png = as_png(folder, count, Path(tmp) / "png")
        png_kib = sum(p.stat().st_size for p in png.iterdir()) / count / 1024
        rates = [(size, loader_rate(folder, count, items, size), loader_rate(png, count, items, size))
                 for size in LOADER_SIZES]  # fmt: skip
    print("\n| depth loader (SequenceDataset, one process), 1080p triplets resized to | stored JPEG q95 triplets/s "
          "| PNG triplets/s |")  # fmt: skip
    print("|---|---|---|")
    for (h, w), jpeg_rate, png_rate in rates:
        print(f"| {h}×{w} | {jpeg_rate:.2f} | {png_rate:.2f} |")
    print(f"\nKiB per 1080p frame: JPEG q95 {rows[0][1]['jpeg_kib']:.0f}, PNG (compress level 1) {png_kib:.0f}")


if __name__ == "__main__":
    main()
