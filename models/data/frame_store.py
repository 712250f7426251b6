"""A sequence's frames on disk: every stored frame as a JPEG (quality 95) named by its position, an index of where
each came from, the pool's positions and the depth triplets. Torch-free.

Why JPEG q95 (measured on a noisy 1080p frame of the synthetic world, benchmarks/README.md "Video import"): 376 KiB
and 5 ms to encode / 6 ms to decode, against 3.3 MiB, 161 ms and 39 ms for the fastest PNG; PSNR 41.5 dB, far
below the photometric differences self-supervised depth learns from. Video is 4:2:0 already, so 4:2:0 JPEG loses
no colour the source had.

Layout of a sequence folder:
    000000.jpg, 000001.jpg, ...   stored frame i (the i-th kept after the stride), as displayed
    index.json                    {"source_index": [...], "time": [...], "width", "height", "stride"}
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from contracts.cityscapes import DataError

JPEG_QUALITY = 95
INDEX_FILE = "index.json"


def frame_name(position: int) -> str:
    return f"{position:06d}.jpg"


@dataclass(frozen=True)
class StoredSequence:
    folder: Path
    count: int  # frames stored
    width: int
    height: int
    source_index: list[int]  # stored position → frame number in the source


def _save(rgb: np.ndarray, path: Path) -> None:
    Image.fromarray(rgb).save(path, format="JPEG", quality=JPEG_QUALITY)  # Pillow releases the GIL while encoding


def store_frames(
    frames: Iterable[tuple[int, float | None, np.ndarray]],
    folder: Path,
    *,
    stride: int,
    threads: int = 2,
    progress: Callable[[int], None] = lambda _n: None,
) -> StoredSequence:
    """Write `(source index, time, rgb (H, W, 3) uint8)` frames as JPEGs in `folder`, in order.

    Encoding runs on `threads` threads with at most 2 × threads frames in flight (bounded memory); every frame
    must have the first one's size (else DataError). `progress(n)` is called with the number stored so far."""
    folder.mkdir(parents=True, exist_ok=True)
    sources: list[int] = []
    times: list[float | None] = []
    size: tuple[int, int] | None = None
    pending: list[Future[None]] = []
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for source, time, rgb in frames:
            if size is None:
                size = rgb.shape[:2]
            elif rgb.shape[:2] != size:
                raise DataError(f"frame {source} is {rgb.shape[1]}x{rgb.shape[0]}, the sequence's first frame is "
                                f"{size[1]}x{size[0]}; a sequence's frames must all have one size")  # fmt: skip
            pending.append(pool.submit(_save, rgb, folder / frame_name(len(sources))))
            sources.append(source)
            times.append(time)
            if len(pending) >= 2 * threads:
                pending.pop(0).result()
            progress(len(sources))
        for job in pending:
            job.result()
    if size is None:
        raise DataError(f"no frames to store in {folder}")
    index = {"source_index": sources, "time": times, "width": size[1], "height": size[0], "stride": stride}
    (folder / INDEX_FILE).write_text(json.dumps(index))
    return StoredSequence(folder, len(sources), size[1], size[0], sources)


def read_frame_files(
    files: list[Path], *, stride: int, max_width: int | None = None, digest: Any = None
) -> Iterator[tuple[int, None, np.ndarray]]:
    """`(index, None, rgb (H, W, 3) uint8)` for every `stride`-th file of a frame folder, downscaled (area filter) to
    at most `max_width` wide. Every file's bytes, the skipped ones too, go into `digest` (a hashlib object): the
    folder's identity. A file that does not decode, or has another size than the first, is a DataError naming it."""
    first: tuple[str, tuple[int, int]] | None = None
    for index, path in enumerate(files):
        data = path.read_bytes()
        if digest is not None:
            digest.update(data)
        if index % stride:
            continue
        try:
            with Image.open(io.BytesIO(data)) as img:
                rgb = img.convert("RGB")
        except Exception as err:
            raise DataError(f"{path.name} is not a readable PNG/JPEG image (truncated or corrupt): {err}") from None
        if first is None:
            first = (path.name, rgb.size)
        elif rgb.size != first[1]:
            raise DataError(f"{path.name} is {rgb.width}x{rgb.height} but {first[0]} is {first[1][0]}x{first[1][1]}; "
                            "a sequence's frames must all have one size")  # fmt: skip
        if max_width and rgb.width > max_width:
            rgb = rgb.resize((max_width, max(2, round(rgb.height * max_width / rgb.width))), Image.Resampling.BOX)
        yield index, None, np.asarray(rgb)


def first_frame_size(files: list[Path]) -> tuple[int, int]:
    """(width, height) of a folder's first frame, from its header."""
    with Image.open(files[0]) as img:
        return img.size


def pool_positions(count: int, stride: int, pool_every: int) -> list[int]:
    """Stored positions that join the annotation pool: one per `pool_every` source frames, the first stored frame at
    or after the middle of each window (Cityscapes annotates frame 20 of each 30-frame snippet), never the first or
    last stored frame (a pool image needs both neighbours, t-1 and t+1, at the training stride)."""
    picked: list[int] = []
    for m in range(math.ceil(count * stride / pool_every) + 1):
        position = max(1, math.ceil((m * pool_every + pool_every // 2) / stride))
        if position > count - 2:
            break
        if not picked or position > picked[-1]:
            picked.append(position)
    return picked


def triplets(folder: Path, count: int) -> list[tuple[Path, Path, Path]]:
    """(t-1, t, t+1) for every stored frame with both neighbours: what depth training learns from."""
    names = [folder / frame_name(i) for i in range(count)]
    return [(names[i - 1], names[i], names[i + 1]) for i in range(1, count - 1)]
