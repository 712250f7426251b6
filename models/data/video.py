"""Decoding a video file into RGB frames with PyAV (FFmpeg's libraries inside the wheel; no system FFmpeg).

Streaming: one decoded frame at a time leaves this module (memory bounded whatever the length). Rotation metadata
(the container's display matrix, as phones write it) is applied, so frames come out as a player shows them.
Variable frame rate is accepted: frames are taken in presentation order and `stride` counts frames, not time; each
frame's timestamp is kept. Torch-free; the worker's import job (worker/import_frames.py) is the caller.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from contracts.cityscapes import DataError

# Demuxers FFmpeg uses for single images: a renamed PNG or JPEG opens as a one-frame "video" through them.
_IMAGE_DEMUXERS = ("_pipe", "image2")


class VideoError(DataError):
    """A file that cannot be imported as a video; the message names the file and the problem."""


@dataclass(frozen=True)
class VideoInfo:
    """What the container says, before decoding. `width`/`height` are as displayed (after rotation)."""

    container: str  # FFmpeg's demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2", "avi"
    codec: str
    width: int
    height: int
    rotation: int  # counter-clockwise degrees applied for display: 0, 90, 180 or 270
    frames: int  # the header's frame count; 0 when the container does not say
    fps: float | None  # average frame rate; a variable-rate video still has one


@dataclass(frozen=True)
class DecodedFrame:
    index: int  # position in the video's decoded frames (before any stride)
    time: float | None  # presentation time in seconds
    rgb: np.ndarray  # (H, W, 3) uint8, rotated for display and resized when asked


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as err:
        raise VideoError(f"{path.name} cannot be read as a video (not a video file, truncated or corrupt): "
                         f"{err.strerror or err}") from None  # fmt: skip


def _rotation(frame: av.VideoFrame) -> int:
    """The frame's display rotation rounded to a quarter turn, counter-clockwise, in [0, 360)."""
    return int(round(float(frame.rotation or 0) / 90.0)) % 4 * 90


def probe(path: Path) -> VideoInfo:
    """Open the container and its first video stream, decode the first frame (rotation lives on frames), and
    refuse what cannot be imported: not a video, an image, no video stream, a codec FFmpeg cannot decode."""
    with _open(path) as container:
        fmt = container.format.name
        if any(tag in fmt for tag in _IMAGE_DEMUXERS):
            raise VideoError(f"{path.name} is a still image ({fmt.replace('_pipe', '')}), not a video")
        if not container.streams.video:
            kinds = ", ".join(f"{s.type} {s.codec_context.name if s.codec_context else '?'}"
                              for s in container.streams) or "none"  # fmt: skip
            raise VideoError(f"{path.name} has no video stream (its streams: {kinds})")
        stream = container.streams.video[0]
        codec = _codec_name(stream, path)
        first = _first_frame(container, stream, path)
        rotation = _rotation(first)
        w, h = (first.height, first.width) if rotation in (90, 270) else (first.width, first.height)
        rate = stream.average_rate or stream.guessed_rate
        return VideoInfo(fmt, codec, w, h, rotation, int(stream.frames or 0), float(rate) if rate else None)


def _codec_name(stream: av.video.stream.VideoStream, path: Path) -> str:
    ctx = stream.codec_context
    name = ctx.name if ctx is not None else None
    if not name or name == "none":
        tag = _fourcc(path)
        raise VideoError(f"{path.name}: its video codec{f' (FourCC {tag!r})' if tag else ''} is not one FFmpeg can "
                         "decode; convert it, e.g. to H.264: ffmpeg -i IN -c:v libx264 OUT.mp4")  # fmt: skip
    try:
        av.Codec(name, "r")
    except (av.error.FFmpegError, ValueError):
        raise VideoError(f"{path.name}: unsupported video codec {name!r} (this FFmpeg build has no decoder for it); "
                         "convert it, e.g. to H.264: ffmpeg -i IN -c:v libx264 OUT.mp4") from None  # fmt: skip
    return str(name)


def _fourcc(path: Path) -> str | None:
    """The codec's FourCC read from the file's header, for a codec FFmpeg does not know (it then gives no name):
    AVI's video stream header (`strh`, size, "vids", handler) or MP4/MOV's first sample description (`stsd`)."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 20)
    tags = [head[m.start() + 12 : m.start() + 16] for m in re.finditer(b"strh", head) if
            head[m.start() + 8 : m.start() + 12] == b"vids"]  # fmt: skip
    if not tags and (at := head.find(b"stsd")) >= 0:
        tags = [head[at + 16 : at + 20]]  # "stsd", version+flags, entry count, entry size, entry type
    for tag in tags:
        if len(tag) == 4 and all(32 <= b < 127 for b in tag):
            return tag.decode("ascii")
    return None


def _first_frame(container: av.container.InputContainer, stream: av.video.stream.VideoStream, path: Path):
    try:
        for frame in container.decode(stream):
            return frame
    except av.error.FFmpegError as err:
        raise VideoError(f"{path.name}: the first frame does not decode (truncated or corrupt): {err}") from None
    raise VideoError(f"{path.name}: its video stream holds no frame")


def decode(path: Path, *, stride: int = 1, max_width: int | None = None) -> Iterator[DecodedFrame]:
    """Every `stride`-th frame as displayed (rotated), downscaled to at most `max_width` pixels wide.

    One frame is held at a time (FFmpeg's frame threads hold a few more, bounded by the thread count). Raises
    VideoError for a stream that stops decoding, and for a file that ends before the frame count its header
    announces (a truncated download)."""
    info = probe(path)
    scale = min(1.0, max_width / info.width) if max_width else 1.0
    out_w, out_h = max(2, round(info.width * scale)), max(2, round(info.height * scale))
    quarter = info.rotation // 90
    # reformat works on the stored (unrotated) frame: swap the target size back for a quarter turn
    stored_w, stored_h = (out_h, out_w) if quarter % 2 else (out_w, out_h)
    count = 0
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame + slice threads: decoding uses the machine's cores
        try:
            for count, frame in enumerate(container.decode(stream), start=1):
                if (count - 1) % stride:
                    continue
                rgb = frame.to_ndarray(format="rgb24", width=stored_w, height=stored_h,
                                       interpolation="AREA" if scale < 1 else None)  # (H, W, 3)  # fmt: skip
                if quarter:
                    rgb = np.ascontiguousarray(np.rot90(rgb, k=quarter))  # counter-clockwise, as the metadata says
                yield DecodedFrame(count - 1, float(frame.time) if frame.time is not None else None, rgb)
        except av.error.FFmpegError as err:
            raise VideoError(f"{path.name}: decoding stopped at frame {count} (truncated or corrupt): {err}") from None
    if info.frames and count < info.frames:
        raise VideoError(f"{path.name} is truncated: its header announces {info.frames} frames, {count} decoded")
