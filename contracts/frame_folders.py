"""Folders of numbered frames (the `sequence` layout): which files are frames, in which order, whether the numbering
has gaps, and the optional calibration beside them. Torch-free and read-only: the API checks a folder with it before
it starts an import job (a 4xx), and the job lists the same files with it.

A sequence folder holds its frames directly (`.png`, `.jpg`, `.jpeg`, any mix), sorted in natural order
(`frame2.png` before `frame10.png`). When the names carry frame numbers (the last run of digits in the name), they
must step evenly: a jump larger than the folder's usual step is a gap, and the folder is refused naming where
(a depth triplet across a gap would pair frames that are not neighbours; split the folder there, or fill the gap).
An `intrinsics.json` in the folder, or in the folder above it for all its sequences, gives `{fx, fy, u0, v0}` in
pixels of the frames as stored in the folder.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path

from contracts.cityscapes import DataError

FRAME_SUFFIXES = {".png", ".jpg", ".jpeg"}
CALIBRATION_FILE = "intrinsics.json"
MIN_FRAMES = 3  # t-1, t, t+1
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> list[int | str]:
    """Sort key that orders the digit runs of a name as numbers: frame2 < frame10."""
    return [int(part) if part.isdigit() else part.lower() for part in _DIGITS.split(name)]


def frame_files(folder: Path) -> list[Path]:
    """The frames directly in `folder`, in natural order."""
    files = [p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and p.is_file()]
    return sorted(files, key=lambda p: natural_key(p.name))


def sequence_folders(root: Path) -> list[Path]:
    """`root` itself when it holds frames, else each sub-folder (recursive, natural order) that holds frames."""
    if frame_files(root):
        return [root]
    found = [p for p in root.rglob("*") if p.is_dir() and frame_files(p)]
    return sorted(found, key=lambda p: natural_key(p.relative_to(root).as_posix()))


def check_numbering(files: list[Path], where: str) -> None:
    """DataError naming the first gap when the frame numbers do not step evenly (names without digits: no check)."""
    numbers = []
    for path in files:
        digits = _DIGITS.findall(path.stem)
        if not digits:
            return
        numbers.append(int(digits[-1]))
    steps = [b - a for a, b in zip(numbers, numbers[1:], strict=False)]
    if not steps:
        return
    usual = Counter(steps).most_common(1)[0][0]
    for k, step in enumerate(steps):
        if step != usual:
            raise DataError(f"{where}: frame numbers jump from {files[k].name} to {files[k + 1].name} (the folder "
                            f"steps by {usual}); a gap would pair frames that are not neighbours: split the folder "
                            "there or fill the gap")  # fmt: skip


def check_folder(folder: Path, where: str, prefix: str | None = None) -> list[Path]:
    """The frames of one sequence folder (those whose name starts with `prefix`, when given: a Cityscapes snippet),
    refused (DataError) with fewer than 3 or a gap in their numbering."""
    files = frame_files(folder)
    if prefix is not None:
        files = [f for f in files if f.name.startswith(prefix)]
    if len(files) < MIN_FRAMES:
        raise DataError(f"{where} has {len(files)} frame(s); a sequence needs at least {MIN_FRAMES} (t-1, t, t+1)")
    check_numbering(files, where)
    return files


def read_calibration(folder: Path, root: Path) -> dict[str, float] | None:
    """`intrinsics.json` of the folder, else of its parent (when that is still under `root`); None without one.
    A file that does not parse, lacks a key or holds a non-finite or non-positive focal length is a DataError."""
    for candidate in (folder / CALIBRATION_FILE, folder.parent / CALIBRATION_FILE):
        if candidate.is_file() and candidate.resolve().is_relative_to(root.resolve()):
            try:
                raw = json.loads(candidate.read_text())
                values = {k: float(raw[k]) for k in ("fx", "fy", "u0", "v0")}
            except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
                raise DataError(f"{candidate.name} in {candidate.parent.name}/ does not parse: it must be JSON with "
                                f"numbers fx, fy, u0, v0 ({type(err).__name__}: {err})") from None  # fmt: skip
            if not all(math.isfinite(v) for v in values.values()) or values["fx"] <= 0 or values["fy"] <= 0:
                raise DataError(f"{candidate}: intrinsics must be finite, focal lengths positive: {values}")
            return values
    return None


# ---------------------------------------------------------------------------------------------------- KITTI raw
KITTI_CAMERA = "image_02"  # the left colour camera
KITTI_CALIBRATION = "calib_cam_to_cam.txt"


def kitti_drives(root: Path) -> list[Path]:
    """KITTI raw's frame folders under `root` (a dataset root, a date or a drive folder):
    `<date>/<drive>/image_02/data/`, in natural order."""
    found = [p for p in root.rglob("data") if p.is_dir() and p.parent.name == KITTI_CAMERA]
    if root.name == "data" and root.parent.name == KITTI_CAMERA:
        found.append(root)
    return sorted(set(found), key=lambda p: natural_key(p.as_posix()))


def read_kitti_calibration(data_dir: Path, root: Path) -> dict[str, float] | None:
    """The left colour camera's rectified intrinsics (`P_rect_02`, pixels of the rectified frames) from the
    `calib_cam_to_cam.txt` of the drive's date folder (found upwards, within `root`); None without the file.
    A file without a parseable `P_rect_02` (12 numbers) is a DataError naming it."""
    folder = data_dir
    while folder.resolve().is_relative_to(root.resolve()):
        candidate = folder / KITTI_CALIBRATION
        if candidate.is_file():
            return _parse_p_rect(candidate)
        if folder.parent == folder:
            break
        folder = folder.parent
    return None


def _parse_p_rect(path: Path) -> dict[str, float]:
    key = f"P_rect_{KITTI_CAMERA[-2:]}:"
    try:
        line = next(line for line in path.read_text().splitlines() if line.startswith(key))
        P = [float(v) for v in line[len(key) :].split()]
        if len(P) != 12:
            raise ValueError(f"{len(P)} numbers, 12 expected")
    except (StopIteration, ValueError, UnicodeDecodeError) as err:
        why = f"no {key[:-1]} line" if isinstance(err, StopIteration) else f"{type(err).__name__}: {err}"
        raise DataError(f"{path.parent.name}/{path.name} does not parse ({why}); KITTI's calib_cam_to_cam.txt "
                        "gives the camera's 3x4 rectified projection as P_rect_02: 12 numbers") from None  # fmt: skip
    values = {"fx": P[0], "fy": P[5], "u0": P[2], "v0": P[6]}  # P = K [I | t]: row-major 3x4
    if not all(math.isfinite(v) for v in values.values()) or values["fx"] <= 0 or values["fy"] <= 0:
        raise DataError(f"{path}: P_rect_02 must be finite with positive focal lengths: {values}")
    return values


# ---------------------------------------------------------------------------------------------------- Cityscapes
def cityscapes_snippets(root: Path) -> list[tuple[str, Path, str]]:
    """Every snippet of `root/leftImg8bit_sequence/<split>/<city>/` (`<city>_<seq>_<frame>_leftImg8bit.png`, 30
    frames each in Cityscapes): (name "<split>/<city>_<seq>", city folder, file prefix "<city>_<seq>_")."""
    base = root / "leftImg8bit_sequence"
    if not base.is_dir():
        raise DataError(
            f"layout 'cityscapes_sequence' needs a leftImg8bit_sequence/ folder under {root}; none is there"
        )
    found = []
    for city in sorted((p for p in base.glob("*/*") if p.is_dir()), key=lambda p: natural_key(p.as_posix())):
        snippets = {f.name.rsplit("_", 2)[0] for f in frame_files(city) if f.stem.endswith("_leftImg8bit")}
        found += [(f"{city.parent.name}/{s}", city, f"{s}_") for s in sorted(snippets, key=natural_key)]
    return found


def cityscapes_camera(root: Path, split: str, snippet: str) -> Path | None:
    """The camera json of a snippet's annotated frame (`camera/<split>/<city>/<city>_<seq>_*_camera.json`)."""
    city = snippet.rsplit("_", 1)[0]
    found = sorted((root / "camera" / split / city).glob(f"{snippet}_*_camera.json"))
    return found[0] if found else None
