"""Where an import's frames come from, found and checked on the API side from names and first bytes only (no
decoding: the API image has no FFmpeg): video files recognised by their container, frame folders (`sequence`,
`kitti_raw`, `cityscapes_sequence`) with their numbering and calibration (contracts/frame_folders.py). Each source is
a dict the `import_frames` job reads (worker/import_frames.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image as PILImage

from contracts.cityscapes import DataError, read_intrinsics
from contracts.frame_folders import (
    FRAME_SUFFIXES,
    KITTI_CAMERA,
    check_folder,
    cityscapes_camera,
    cityscapes_snippets,
    kitti_drives,
    read_calibration,
    read_kitti_calibration,
    sequence_folders,
)
from service import storable
from service.errors import Invalid, NotFound
from service.imports import inside_root, resolve_import_dir, sha256_of

CONTAINERS = "MP4/MOV, AVI, Matroska/WebM, MPEG-TS/PS, FLV, Ogg"
_QT_ATOMS = (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")  # a QuickTime/MP4 file starts with one
_IMAGES = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image"}


def container_of(head: bytes) -> str | None:
    """The container a file's first bytes announce, or None. Cheap and torch/FFmpeg-free; the worker's decoder
    has the last word (a recognised container may still hold no video stream or an unknown codec)."""
    if head[4:8] in _QT_ATOMS:
        return "mp4"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if head[:3] == b"FLV":
        return "flv"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"\x00\x00\x01\xba":
        return "mpeg-ps"
    if len(head) > 376 and head[0] == head[188] == head[376] == 0x47:  # 188-byte packets, each with its sync byte
        return "mpeg-ts"
    return None


def check_video_file(path: Path, name: str) -> str:
    """The file's container, or Invalid saying what the file is instead (an image, text, empty, unknown)."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if (found := container_of(head)) is not None:
        return found
    if not head:
        raise Invalid(f"{name} is empty, not a video")
    for magic, what in _IMAGES.items():
        if head.startswith(magic):
            raise Invalid(f"{name} is {what}, not a video (a renamed file?); upload images to /images")
    if b"\x00" not in head and _utf8(head):
        raise Invalid(f"{name} is a text file, not a video")
    raise Invalid(f"{name} is not a video container depthal recognises ({CONTAINERS})")


def _utf8(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        return err.start >= len(head) - 3  # a character cut by the 4 KiB read
    return True


VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".ts", ".mts", ".m2ts", ".mpg", ".mpeg", ".flv",
                  ".ogv"}  # fmt: skip


def video_sources(path: str, root: Path) -> list[dict[str, Any]]:
    """The `video` layout: a video file under the import root, or every video file (by suffix, recursive, sorted)
    in a folder under it; each is checked to be a video container and checksummed. Paths resolving outside the
    root are refused (403), like every folder import."""
    target = inside_root(root / path, root, what="import path")
    if target.is_file():
        files = [target]
    elif target.is_dir():
        files = sorted(p for p in target.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
        files = [inside_root(p, root, what="file") for p in files]
    else:
        raise NotFound(f"import path {path!r} is neither a file nor a folder under the import root")
    if not files:
        raise Invalid(f"no video files ({', '.join(sorted(VIDEO_SUFFIXES))}) under {target}")
    sources = []
    for file in files:
        name = file.name if target.is_file() else file.relative_to(target).as_posix()
        check_video_file(file, name)
        sources.append({"kind": "video", "name": name, "checksum": sha256_of(file), "path": str(file),
                        "uploaded": False})  # fmt: skip
    return sources


def sequence_sources(path: str, root: Path, *, layout: str = "sequence") -> list[dict[str, Any]]:
    """Frame folders under the import root, one sequence each, checked from names and calibrations only (the job
    reads the pixels and checksums them; contracts/frame_folders.py: natural order, at least 3 frames, no gap):
    - `sequence`: the folder itself when it holds frames, else each sub-folder that does, with an optional
      intrinsics.json;
    - `kitti_raw`: KITTI raw's `<date>/<drive>/image_02/data/`, with the date's calib_cam_to_cam.txt;
    - `cityscapes_sequence`: every snippet of `leftImg8bit_sequence/`, with its camera json; depth-training
      material only (no pool images: the annotated frames come from the `cityscapes` layout)."""
    folder = resolve_import_dir(path, root)
    try:
        if layout == "cityscapes_sequence":
            found = [(name, city, prefix) for name, city, prefix in cityscapes_snippets(folder)]
        else:
            folders = kitti_drives(folder) if layout == "kitti_raw" else sequence_folders(folder)
            found = [(_folder_name(seq, folder, layout), seq, None) for seq in folders]
    except DataError as err:
        raise Invalid(str(err)) from None
    if not found:
        what = f"KITTI raw drives (<date>/<drive>/{KITTI_CAMERA}/data/)" if layout == "kitti_raw" else "frames"
        raise Invalid(f"no {what} ({', '.join(sorted(FRAME_SUFFIXES))}) in {folder} or its sub-folders")
    sources = []
    for name, seq, prefix in found:
        if why := storable.text_problem(name):
            raise Invalid(f"folder name {name!r} {why}")
        try:
            files = check_folder(seq, name, prefix)
            calibration = _calibration(layout, folder, seq, name, files, root)
        except DataError as err:
            raise Invalid(str(err)) from None
        for file in files:
            inside_root(file, root, what="file")
        sources.append({"kind": _KINDS[layout], "name": name, "checksum": None, "uploaded": False,
                        "path": str(inside_root(seq, root, what="folder")), "prefix": prefix,
                        "calibration": calibration, "pool": layout != "cityscapes_sequence"})  # fmt: skip
    return sources


_KINDS = {"sequence": "frames", "kitti_raw": "kitti_raw", "cityscapes_sequence": "cityscapes"}


def _folder_name(seq: Path, folder: Path, layout: str) -> str:
    if layout == "kitti_raw":  # <date>/<drive>, the way KITTI names a drive
        return "/".join(seq.parts[-4:-2])
    return folder.name if seq == folder else seq.relative_to(folder).as_posix()


def _calibration(
    layout: str, folder: Path, seq: Path, name: str, files: list[Path], root: Path
) -> dict[str, float] | None:
    if layout == "kitti_raw":
        return read_kitti_calibration(seq, root)
    if layout == "sequence":
        return read_calibration(seq, root)
    camera = cityscapes_camera(folder, name.split("/")[0], name.split("/")[1])
    if camera is None:
        return None
    with PILImage.open(files[0]) as img:  # the json's values are scaled to the frames' own size
        K = read_intrinsics(camera, image_size=(img.height, img.width))
    return {"fx": float(K[0, 0]), "fy": float(K[1, 1]), "u0": float(K[0, 2]), "v0": float(K[1, 2])}
