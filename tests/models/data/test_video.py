"""`models.data.video` on files PyAV encodes here: every quarter turn of rotation metadata comes out as displayed,
downscaling keeps the displayed aspect, and the stride counts decoded frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.data.video import decode, probe
from tests.factories import encode_video, synth_frames


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return synth_frames(6, (32, 64))


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_rotation_metadata_is_applied(tmp_path: Path, frames: list[np.ndarray], rotation: int) -> None:
    clip = encode_video(tmp_path / "r.mp4", frames, rotation=rotation)
    info = probe(clip)
    assert (info.rotation, info.width, info.height, info.frames, info.codec) == (rotation, 64, 32, 6, "h264")
    decoded = list(decode(clip))
    assert [d.index for d in decoded] == list(range(6))
    for d, original in zip(decoded, frames, strict=True):
        assert d.rgb.shape == (32, 64, 3) and np.abs(d.rgb.astype(float) - original).mean() < 8


def test_stride_and_max_width(tmp_path: Path, frames: list[np.ndarray]) -> None:
    clip = encode_video(tmp_path / "a.mp4", frames, rotation=90)  # (AVI has no display matrix to carry it)
    decoded = list(decode(clip, stride=2, max_width=32))
    assert [d.index for d in decoded] == [0, 2, 4] and decoded[0].time == pytest.approx(0.0)
    small = np.asarray(Image.fromarray(frames[2]).resize((32, 16), Image.Resampling.BOX), dtype=float)
    assert decoded[1].rgb.shape == (16, 32, 3) and np.abs(decoded[1].rgb - small).mean() < 10
