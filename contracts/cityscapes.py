"""The Cityscapes label table and layout reader: frames, neighbours, labels, intrinsics. Torch-free (numpy + PIL).

Both sides import it: the service for folder import, mask formats and the default classes; the models for data
loading (import-linter keeps `contracts` free of torch and of both sides). It reads real Cityscapes and the
synthetic world (`models.data.synth`) alike, since both use the same layout (`method.md` §6):

    leftImg8bit/{split}/<city>/<city>_<seq>_<frame>_leftImg8bit.png           annotated frames
    leftImg8bit_sequence/{split}/<city>/<city>_<seq>_<frame>_leftImg8bit.png  every frame (t-1, t+1 neighbours)
    gtFine/{split}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png            labels (Cityscapes label ids)
    camera/{split}/<city>/<city>_<seq>_<frame>_camera.json                    intrinsics
    truth/{split}/<city>/<name>_depth.png, <name>_pose.json                   synthetic world only

`.jpg` images are accepted as well (`leftImg8bit_small` style). Errors are `DataError`s naming the offending file;
`find_frames(..., lenient=True)` skips bad items instead and lists them in the result's `skipped` attribute.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

IGNORE_INDEX = 255

# The official Cityscapes label table (cityscapesScripts `labels.py`): label id -> train id, 255 = ignore.
# License plate has id -1 (it only occurs in instance files); it is ignored like every other non-train class.
LABEL_ID_TO_TRAIN_ID: dict[int, int] = {
    -1: 255, 0: 255, 1: 255, 2: 255, 3: 255, 4: 255, 5: 255, 6: 255,
    7: 0, 8: 1, 9: 255, 10: 255, 11: 2, 12: 3, 13: 4, 14: 255, 15: 255, 16: 255,
    17: 5, 18: 255, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15,
    29: 255, 30: 255, 31: 16, 32: 17, 33: 18,
}  # fmt: skip

# The 19 train classes in train-id order with their official colours.
CITYSCAPES_CLASSES: list[tuple[str, tuple[int, int, int]]] = [
    ("road", (128, 64, 128)), ("sidewalk", (244, 35, 232)), ("building", (70, 70, 70)),
    ("wall", (102, 102, 156)), ("fence", (190, 153, 153)), ("pole", (153, 153, 153)),
    ("traffic light", (250, 170, 30)), ("traffic sign", (220, 220, 0)), ("vegetation", (107, 142, 35)),
    ("terrain", (152, 251, 152)), ("sky", (70, 130, 180)), ("person", (220, 20, 60)), ("rider", (255, 0, 0)),
    ("car", (0, 0, 142)), ("truck", (0, 0, 70)), ("bus", (0, 60, 100)), ("train", (0, 80, 100)),
    ("motorcycle", (0, 0, 230)), ("bicycle", (119, 11, 32)),
]  # fmt: skip

# train id -> label id (inverse of the table on the 19 train classes); the synthetic world writes label ids.
TRAIN_ID_TO_LABEL_ID: dict[int, int] = {t: i for i, t in LABEL_ID_TO_TRAIN_ID.items() if t != IGNORE_INDEX}

_LUT = np.full(256, -1, dtype=np.int16)  # label id (0..255) -> train id; -1 marks ids unknown to Cityscapes
for _id, _train in LABEL_ID_TO_TRAIN_ID.items():
    if _id >= 0:
        _LUT[_id] = _train

_NAME = re.compile(r"^(?P<city>.+)_(?P<seq>\d{6})_(?P<frame>\d{6})$")
_IMAGE_SUFFIXES = ("_leftImg8bit.png", "_leftImg8bit.jpg")
# Real Cityscapes camera files describe the 2048×1024 sensor and carry no image size (§6).
CITYSCAPES_SENSOR_SIZE = (1024, 2048)  # (H, W)
# The fixed intrinsics the method uses for every Cityscapes frame, in sensor pixels (`method.md` §2.1).
CITYSCAPES_K = np.array([[2262.52, 0.0, 1096.98], [0.0, 2265.3018, 513.137], [0.0, 0.0, 1.0]])


class DataError(ValueError):
    """Bad input data; the message names the offending file."""


@dataclass(frozen=True, eq=False)
class FrameRecord:
    """One annotated (or annotatable) frame with its sequence neighbours and intrinsics.

    `K` is 3×3 in pixels of the image file's native size (pixel centres at integer coordinates). `eq=False`
    because `K` is an array: records compare by identity; compare `image` paths for equality.
    """

    image: Path
    prev: Path | None
    next: Path | None
    label: Path | None
    K: np.ndarray
    split: str
    city: str
    name: str
    depth: Path | None = None
    pose: Path | None = None
    # How `label` stores classes: "label_ids" (Cityscapes gtFine labelIds) or "train_ids" (values are the train
    # ids themselves, 255 = ignore: the service's stored masks).
    label_format: str = "label_ids"


@dataclass(frozen=True)
class Skipped:
    """An item `find_frames(lenient=True)` left out, and why."""

    path: Path
    reason: str


class FrameList(list[FrameRecord]):
    """`find_frames`' result: a plain list of records plus `skipped`, the items left out in lenient mode."""

    def __init__(self, records: Iterable[FrameRecord] = (), skipped: Iterable[Skipped] = ()) -> None:
        super().__init__(records)
        self.skipped: list[Skipped] = list(skipped)


def label_ids_to_train_ids(label_ids: np.ndarray) -> np.ndarray:
    """Map Cityscapes label ids (-1..33) to the 19 train ids (uint8, 255 = ignore), `method.md` §6.

    Raises:
        ValueError: for ids outside the official table; the message lists them.
    """
    ids = np.asarray(label_ids)
    if ids.dtype == np.uint8:
        out = _LUT[ids]
    else:
        ids = ids.astype(np.int64)
        out = np.full(ids.shape, -1, dtype=np.int16)
        known = (ids >= 0) & (ids < 256)
        out[known] = _LUT[ids[known]]
        out[ids == -1] = IGNORE_INDEX
    if (out < 0).any():
        bad = np.unique(ids[out < 0])
        raise ValueError(f"unknown Cityscapes label ids {bad[:10].tolist()}")
    return out.astype(np.uint8)


def train_ids_to_label_ids(train_ids: np.ndarray) -> np.ndarray:
    """Inverse on the train classes: train id -> label id (uint8); ignore (255) becomes 0 ("unlabeled")."""
    lut = np.zeros(256, dtype=np.uint8)
    for t, i in TRAIN_ID_TO_LABEL_ID.items():
        lut[t] = i
    return lut[np.asarray(train_ids, dtype=np.uint8)]


def colorize(train_ids: np.ndarray) -> np.ndarray:
    """Train ids (H, W) -> RGB (H, W, 3) uint8 in the official colours; ignore is black."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    for t, (_, rgb) in enumerate(CITYSCAPES_CLASSES):
        palette[t] = rgb
    return palette[np.asarray(train_ids, dtype=np.uint8)]


def read_intrinsics(camera_json_path: Path, image_size: tuple[int, int] | None = None) -> np.ndarray:
    """Read the 3×3 K from a Cityscapes camera json (`{"intrinsic": {"fx", "fy", "u0", "v0"}, ...}`).

    Without `image_size` the values come back as stored. With `image_size=(H, W)` they are scaled to that image:
    from the json's own `imgWidth`/`imgHeight` when present (the synthetic world writes them), else from the
    2048×1024 Cityscapes sensor, so real Cityscapes at any downsampled size gets consistent intrinsics.
    """
    path = Path(camera_json_path)
    try:
        data = json.loads(path.read_text())
        intr = data["intrinsic"]
        fx, fy, u0, v0 = (float(intr[k]) for k in ("fx", "fy", "u0", "v0"))
    except FileNotFoundError as err:
        raise DataError(f"{path}: camera json not found") from err
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: unreadable camera json ({err})") from err
    except (KeyError, TypeError) as err:
        raise DataError(f"{path}: camera json lacks intrinsic field {err}") from err
    except ValueError as err:
        raise DataError(f"{path}: non-numeric intrinsics ({err})") from err
    if not all(math.isfinite(x) for x in (fx, fy, u0, v0)) or fx <= 0 or fy <= 0:
        raise DataError(f"{path}: invalid intrinsics fx={fx} fy={fy} u0={u0} v0={v0}")
    K = np.array([[fx, 0.0, u0], [0.0, fy, v0], [0.0, 0.0, 1.0]])
    if image_size is not None:
        ref = (data.get("imgHeight"), data.get("imgWidth"))
        ref_size = (int(ref[0]), int(ref[1])) if None not in ref else CITYSCAPES_SENSOR_SIZE
        K = scale_intrinsics(K, ref_size, image_size)
    return K


def scale_intrinsics(K: np.ndarray, from_size: tuple[int, int], to_size: tuple[int, int]) -> np.ndarray:
    """K for an image resized from `from_size` to `to_size` (both (H, W)).

    Pixel centres sit at integer coordinates, so a resize by s maps u -> (u + 0.5)·s − 0.5; fx, fy scale by s.
    """
    sy, sx = to_size[0] / from_size[0], to_size[1] / from_size[1]
    K = np.array(K, dtype=np.float64, copy=True)
    K[0, 0] *= sx
    K[1, 1] *= sy
    K[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
    K[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
    return K


def _open(path: Path, verify: bool) -> Image.Image:
    """Open an image (header only unless `verify`), raising DataError naming the file."""
    try:
        if verify:
            with Image.open(path) as im:
                im.verify()  # PNG: walks every chunk and checks CRCs, so truncation shows up
        return Image.open(path)
    except FileNotFoundError as err:
        raise DataError(f"{path}: file not found") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise DataError(f"{path}: unreadable or truncated image ({err})") from err


def image_size(path: Path) -> tuple[int, int]:
    """(H, W) of an image file, from its header."""
    with _open(Path(path), verify=False) as im:
        return im.height, im.width


def load_image(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """RGB uint8 (H, W, 3); resized to `size=(H, W)` with antialiasing (Lanczos, as `method.md` §6) if given.

    A JPEG much larger than `size` is decoded at 1/2, 1/4 or 1/8 scale first (in the DCT, never below `size`), then
    resized: a stored 1080p video frame for a 256×512 network costs a quarter of the decoding
    (benchmarks/README.md, "video_import")."""
    path = Path(path)
    with _open(path, verify=False) as im:
        try:
            if size is not None and im.format == "JPEG":
                im.draft("RGB", (size[1], size[0]))
            im = im.convert("RGB")
            if size is not None and (im.height, im.width) != tuple(size):
                im = im.resize((size[1], size[0]), Image.Resampling.LANCZOS)
            return np.array(im, dtype=np.uint8)  # a writable copy (torch.from_numpy warns on read-only arrays)
        except (OSError, SyntaxError, ValueError) as err:
            raise DataError(f"{path}: unreadable or truncated image ({err})") from err


def _load_single_channel(path: Path, size: tuple[int, int] | None) -> np.ndarray:
    path = Path(path)
    with _open(path, verify=False) as im:
        try:
            if im.mode not in ("L", "P", "I", "I;16", "I;16B"):
                raise DataError(f"{path}: expected a single-channel PNG, got mode {im.mode}")
            if size is not None and (im.height, im.width) != tuple(size):
                im = im.resize((size[1], size[0]), Image.Resampling.NEAREST)
            return np.array(im)
        except (OSError, SyntaxError) as err:
            raise DataError(f"{path}: unreadable or truncated image ({err})") from err


def load_label(path: Path, size: tuple[int, int] | None = None, label_format: str = "label_ids") -> np.ndarray:
    """A label PNG as train ids (H, W) uint8, 255 = ignore; nearest resize to `size` if given.

    `label_format`: "label_ids" maps gtFine labelIds to train ids; "train_ids" takes the values as they are (a
    single-channel PNG of train ids, as the service stores annotators' masks)."""
    ids = _load_single_channel(path, size)
    if label_format == "train_ids":
        return np.asarray(ids).astype(np.uint8)
    if label_format != "label_ids":
        raise ValueError(f"unknown label format {label_format!r}; expected 'label_ids' or 'train_ids'")
    try:
        return label_ids_to_train_ids(ids)
    except ValueError as err:
        raise DataError(f"{path}: {err}") from err


def load_depth(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """A synthetic true-depth PNG (uint16, metres × 256) as float32 metres (H, W), 0 = no depth; nearest resize."""
    raw = _load_single_channel(path, size)
    return raw.astype(np.float32) / 256.0


def load_pose(path: Path) -> dict[int, np.ndarray]:
    """A synthetic `_pose.json` as {frame offset: 4×4 cam_to_world}. From t to s: inv(T[s]) @ T[0]."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())["cam_to_world"]
        return {int(k): np.array(v, dtype=np.float64).reshape(4, 4) for k, v in data.items()}
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise DataError(f"{path}: unreadable pose json ({err})") from err


def _neighbour(seq_dir: Path, stem: str, offset: int, suffix: str) -> Path:
    m = _NAME.match(stem)
    assert m is not None
    frame = int(m["frame"]) + offset
    return seq_dir / f"{m['city']}_{m['seq']}_{frame:06d}{suffix}"


def find_frames(
    root: Path,
    split: str,
    *,
    lenient: bool = False,
    require_neighbours: bool = True,
    verify: bool | None = None,
    missing_camera: str = "error",
) -> FrameList:
    """Walk `root/leftImg8bit/{split}` and build one `FrameRecord` per image, sorted by path.

    Args:
        root: a Cityscapes-layout root (real or synthetic).
        split: "train", "val" or "test".
        lenient: skip bad items (listed in the result's `skipped`, with a warning) instead of raising DataError.
        require_neighbours: a missing t-1/t+1 frame is an error (or a skip); if False it becomes `None`.
        verify: check every PNG fully (CRC walk, catches truncation); defaults to `lenient`.
        missing_camera: "error" (default) treats a missing camera json as bad input; "cityscapes" uses the
            method's fixed Cityscapes intrinsics (`CITYSCAPES_K`, §2.1) scaled to the image instead, for
            downloads without `camera_trainvaltest`. A camera json that exists but is broken is always an error.

    Bad input: a missing split folder, a label without its image, a badly named file, a missing neighbour or
    camera json, a neighbour of another size or a label of another aspect ratio than its image, unreadable PNGs.
    Label *values* are checked when loaded (`load_label`).
    """
    root = Path(root)
    verify = lenient if verify is None else verify
    if missing_camera not in ("error", "cityscapes"):
        raise ValueError(f"missing_camera must be 'error' or 'cityscapes', got {missing_camera!r}")
    image_root, seq_root = root / "leftImg8bit" / split, root / "leftImg8bit_sequence" / split
    label_root, cam_root, truth_root = root / "gtFine" / split, root / "camera" / split, root / "truth" / split
    if not image_root.is_dir():
        raise DataError(f"{image_root}: no such folder (expected a Cityscapes-layout root)")
    records, skipped = [], []

    def fail(path: Path, reason: str) -> None:
        if not lenient:
            raise DataError(f"{path}: {reason}")
        skipped.append(Skipped(path, reason))

    images = sorted(p for p in image_root.glob("*/*") if p.name.endswith(_IMAGE_SUFFIXES))
    image_stems = {(p.parent.name, p.name.rsplit("_leftImg8bit", 1)[0]) for p in images}
    for lbl in sorted(label_root.glob("*/*_gtFine_labelIds.png")):
        if (lbl.parent.name, lbl.name[: -len("_gtFine_labelIds.png")]) not in image_stems:
            fail(lbl, "label file without its image in leftImg8bit/")
    for img in images:
        city, stem = img.parent.name, img.name.rsplit("_leftImg8bit", 1)[0]
        suffix = img.name[len(stem) :]
        if not _NAME.match(stem):
            fail(img, "name does not follow <city>_<seq:6>_<frame:6>_leftImg8bit")
            continue
        try:
            size = image_size(img) if not verify else _checked_size(img)
            nbrs = []
            for off in (-1, 1):
                nb = _neighbour(seq_root / city, stem, off, suffix)
                if nb.exists():
                    nb_size = _checked_size(nb) if verify else image_size(nb)
                    if nb_size != size:
                        raise DataError(f"{img}: neighbour frame {nb} is {nb_size[1]}x{nb_size[0]}, "
                                        f"the image {size[1]}x{size[0]}")  # fmt: skip
                    nbrs.append(nb)
                elif require_neighbours:
                    raise DataError(f"{img}: neighbour frame {nb} is missing")
                else:
                    nbrs.append(None)
            label = label_root / city / f"{stem}_gtFine_labelIds.png"
            label = label if label.exists() else None
            if label is not None:
                lbl_size = _checked_size(label) if verify else image_size(label)
                # labels may be full resolution next to downsampled images (§6), but never another shape
                if abs(lbl_size[1] * size[0] - lbl_size[0] * size[1]) > 0.01 * lbl_size[0] * size[1]:
                    raise DataError(f"{label}: {lbl_size[1]}x{lbl_size[0]} does not match the aspect ratio of "
                                    f"{img} ({size[1]}x{size[0]})")  # fmt: skip
            camera = cam_root / city / f"{stem}_camera.json"
            if missing_camera == "cityscapes" and not camera.exists():
                K = scale_intrinsics(CITYSCAPES_K, CITYSCAPES_SENSOR_SIZE, size)
            else:
                K = read_intrinsics(camera, image_size=size)
        except DataError as err:
            if not lenient:
                raise
            skipped.append(Skipped(img, str(err)))
            continue
        depth, pose = truth_root / city / f"{stem}_depth.png", truth_root / city / f"{stem}_pose.json"
        records.append(
            FrameRecord(
                image=img, prev=nbrs[0], next=nbrs[1], label=label, K=K, split=split, city=city, name=stem,
                depth=depth if depth.exists() else None, pose=pose if pose.exists() else None,
            )
        )  # fmt: skip
    if skipped:
        log.warning("find_frames(%s, %s): skipped %d bad item(s), first: %s", root, split, len(skipped), skipped[0])
    return FrameList(records, skipped)


def _checked_size(path: Path) -> tuple[int, int]:
    with _open(path, verify=True):
        pass
    return image_size(path)
