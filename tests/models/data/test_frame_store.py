"""The frame store's pure parts: pool sampling, triplets, size checks, and JPEG frames loaded at a reduced scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from contracts.cityscapes import DataError, load_image
from contracts.frame_folders import check_numbering
from models.data.frame_store import frame_name, pool_positions, store_frames, triplets


@pytest.mark.parametrize(
    ("count", "stride", "pool_every", "expected"),
    [
        (100, 1, 30, [15, 45, 75]),  # the middle of each 30-frame window, like Cityscapes' 20th of 30
        (50, 2, 30, [8, 23, 38]),  # source frames 16, 46, 76: the first stored at or after 15, 45, 75
        (12, 1, 4, [2, 6, 10]),  # 10 is the last with a t+1
        (5, 1, 30, []),  # shorter than half a window: training material only
        (3, 1, 1, [1]),  # never the first or last stored frame
    ],
)
def test_pool_positions(count: int, stride: int, pool_every: int, expected: list[int]) -> None:
    assert pool_positions(count, stride, pool_every) == expected


def test_store_frames_writes_jpegs_an_index_and_refuses_a_second_size(tmp_path: Path) -> None:
    rgb = np.full((8, 12, 3), 128, np.uint8)
    stored = store_frames([(0, 0.0, rgb), (2, 0.1, rgb), (4, 0.2, rgb)], tmp_path / "s", stride=2)
    assert (stored.count, stored.width, stored.height, stored.source_index) == (3, 12, 8, [0, 2, 4])
    assert (tmp_path / "s" / "index.json").is_file() and Image.open(tmp_path / "s" / frame_name(2)).format == "JPEG"
    assert triplets(tmp_path / "s", 3) == [tuple(tmp_path / "s" / frame_name(i) for i in (0, 1, 2))]
    with pytest.raises(DataError, match="frame 1 is 12x9, the sequence's first frame is 12x8"):
        store_frames([(0, None, rgb), (1, None, np.zeros((9, 12, 3), np.uint8))], tmp_path / "t", stride=1)


def test_numbering_steps_evenly_or_names_the_gap() -> None:
    check_numbering([Path(f"f{i * 5:04d}.png") for i in range(5)], "d")  # every 5th frame exported: no gap
    check_numbering([Path("a.png"), Path("b.png"), Path("c.png")], "d")  # no numbers: nothing to check
    with pytest.raises(
        DataError, match="d: frame numbers jump from f0010.png to f0020.png \\(the folder steps by 5\\)"
    ):
        check_numbering([Path(f"f{n:04d}.png") for n in (0, 5, 10, 20, 25)], "d")


def test_large_jpeg_is_decoded_at_a_reduced_scale_and_matches_a_full_decode(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (34, 60, 3), dtype=np.uint8)
    Image.fromarray(coarse).resize((1920, 1080), Image.Resampling.BICUBIC).save(tmp_path / "f.jpg", quality=95)
    small = load_image(tmp_path / "f.jpg", (256, 512))
    with Image.open(tmp_path / "f.jpg") as im:  # no draft: full decode, then the same Lanczos resize
        full = np.asarray(im.convert("RGB").resize((512, 256), Image.Resampling.LANCZOS), dtype=np.float64)
    assert small.shape == (256, 512, 3) and np.abs(small - full).mean() < 2.0
