"""One active-learning round as plain functions over records (design.md "The active-learning round", method.md §2–§4).

The worker pipelines (one function per recorded stage/job) and the label-efficiency benchmark ("the same loop
without HTTP", `run_round`) call exactly these. Inputs are `models.data.cityscapes.FrameRecord`s: labeled pool images
carry `label` (set `label_format="train_ids"` for the service's stored masks), unlabeled ones do not; val images carry
labels. The *pool* of a round is `labeled + unlabeled` in that order, so pool index i < len(labeled) is labeled.

Stages (each resumable from its own checkpoint file; progress(stage, fraction, message) everywhere):
1. `pretrain_depth`: self-supervised depth (§2) when the project has no depth model yet.
2. `train_segmentation_model`: transfer from depth + mean teacher + DepthMix (§3), mIoU on val (§5.1).
   `train_student`: the difficulty student on the labeled images' teacher disparity (§4.2).
3. `score_range`: one teacher pass over a slice of the pool → raw pooled ("upconv", 3) features into a shared
   memory-mapped file (sharding-friendly), difficulty (student vs teacher, §4.3) and segmentation entropy.
   `standardise_features` then standardises the whole file per channel (§4.3 step 3).
4. `select`: the strategy by name (`models.strategies`) with the reason of each pick (distance, difficulty).
5. `models.prelabel.write_prelabels`: class-id PNGs and colour overlays of the chosen images.

Cold start (no labels): no segmentation model, no student; diversity strategies pick π_s[0] then farthest points.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from models.checkpoint import load_checkpoint, save_checkpoint
from models.data.cityscapes import FrameRecord
from models.data.datasets import LabeledDataset, SequenceDataset, UnlabeledDataset
from models.depth_model import load_depth_model
from models.depth_train import train_depth
from models.difficulty import (
    DepthStudent,
    StudentConfig,
    depth_difficulty,
    segmentation_entropy,
    train_difficulty_student,
)
from models.features import load_features, pool_feature_map
from models.round_config import RoundConfig
from models.seg_net import config_from_depth
from models.seg_step import normalize_disp
from models.seg_train import load_seg_model, train_segmentation
from models.strategies import DIFFICULTY_WEIGHT, STRATEGIES, PoolScores

Progress = Callable[[str, float, str], None]
FEATURE_STAGE = 3  # ("upconv", 3): 256 ch @ H/8, the method's diversity feature (§4.3)


class RoundInputError(ValueError):
    """Input a round cannot work with (too few images, no GPU for a GPU-only setting); the message says which."""


def _quiet(stage: str, fraction: float, message: str) -> None:
    return None


def resolve_device(setting: str) -> torch.device:
    """The device of a setting: "auto" → CUDA when available, else CPU; "cuda" without a GPU is a `RoundInputError`."""
    if setting == "cuda" and not torch.cuda.is_available():
        raise RoundInputError("the project's settings ask for device 'cuda' (GPU only), but this worker has no GPU")
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(setting)


# ---------------------------------------------------------------------------------------------------- stage 1
def pretrain_depth(
    cfg: RoundConfig, records: Sequence[FrameRecord], out: Path, *, device: torch.device, progress: Progress = _quiet
) -> Path:
    """Self-supervised depth pretraining (method.md §2) on the records that have both neighbour frames.

    Resumes from `out` when it exists (a crashed worker continues from the last checkpoint). Returns `out`."""
    triplets = [r for r in records if r.prev is not None and r.next is not None]
    if len(triplets) < cfg.depth.batch_size:
        raise RoundInputError(f"depth pretraining needs at least {cfg.depth.batch_size} images with both neighbour "
                              f"frames (t-1, t+1); the pool has {len(triplets)}")  # fmt: skip
    data = SequenceDataset(triplets, size=cfg.size, flip=True, seed=cfg.seed)
    train_depth(cfg.depth, data, device=device, progress=progress, checkpoint_path=out, resume=True)
    return out


# ---------------------------------------------------------------------------------------------------- stage 2
@dataclass(frozen=True)
class SegOutcome:
    checkpoint: Path
    miou: float  # on val; nan without val labels
    per_class: list[float]


def check_labeled(cfg: RoundConfig, labeled: Sequence[FrameRecord]) -> None:
    missing = [r.image for r in labeled if r.label is None]
    if missing:
        raise RoundInputError(f"{len(missing)} labeled image(s) have no mask, first: {missing[0]}")
    if len(labeled) < cfg.min_labeled:
        raise RoundInputError(
            f"training needs at least {cfg.min_labeled} labeled images, the project has {len(labeled)}"
        )


def train_segmentation_model(
    cfg: RoundConfig,
    labeled: Sequence[FrameRecord],
    unlabeled: Sequence[FrameRecord],
    val: Sequence[FrameRecord],
    depth_checkpoint: Path,
    out: Path,
    *,
    device: torch.device,
    progress: Progress = _quiet,
) -> SegOutcome:
    """Semi-supervised segmentation (method.md §3): transfer from the depth model, mean teacher, DepthMix with the
    depth model's disparity computed on the fly; the unlabeled stream is the whole pool, labeled images carrying their
    masks (mix_use_gt, §3.3). Evaluates on the val records that have labels. Resumes from `out`."""
    check_labeled(cfg, labeled)
    depth_cfg = load_checkpoint(depth_checkpoint)["config"]
    seg_cfg = replace(cfg.seg, net=config_from_depth(depth_cfg, cfg.seg_variant, cfg.num_classes))
    pool = [*labeled, *unlabeled]
    flags = [i < len(labeled) for i in range(len(pool))]
    lab_ds = LabeledDataset(list(labeled), size=cfg.size, flip=True)
    unl_ds = UnlabeledDataset(pool, is_labeled=flags if seg_cfg.mix == "depthmix" else None, size=cfg.size, flip=True)
    if seg_cfg.mix != "depthmix":
        unl_ds = UnlabeledDataset(list(unlabeled) or list(labeled), size=cfg.size, flip=True)
    val_records = [r for r in val if r.label is not None]
    val_ds = LabeledDataset(val_records, size=cfg.size) if val_records else None
    depth_net = None
    if seg_cfg.mean_teacher and seg_cfg.mix == "depthmix" and cfg.seg_variant != "multitask":
        depth_net = load_depth_model(depth_checkpoint, device)[0].requires_grad_(False)
    sequence_ds = None
    if cfg.seg_variant == "multitask":
        triplets = [r for r in pool if r.prev is not None and r.next is not None]
        sequence_ds = SequenceDataset(triplets, size=cfg.size, flip=True) if triplets else None
    init = None if cfg.seg_variant == "scratch" else depth_checkpoint
    result = train_segmentation(
        seg_cfg, lab_ds, unl_ds if seg_cfg.mean_teacher else None, device=device, init=init, progress=progress,
        checkpoint_path=out, resume=True, val_ds=val_ds, sequence_ds=sequence_ds, depth_net=depth_net,
    )  # fmt: skip
    return SegOutcome(out, float(result.miou), list(result.per_class))


class _TeacherDisp(Dataset):
    """Labeled images (read on demand) with the depth teacher's disp_0, min-max normalised per image (§3.1), as
    "pseudo_disp" (kept in memory as float16: (N, 1, H, W))."""

    def __init__(self, images: Dataset, disp: Tensor) -> None:
        self.images, self.disp = images, disp

    def __len__(self) -> int:
        return self.disp.shape[0]

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"image": self.images[i]["image"], "pseudo_disp": self.disp[i].float()}


def train_student(
    cfg: RoundConfig,
    labeled: Sequence[FrameRecord],
    depth_checkpoint: Path,
    out: Path,
    *,
    device: torch.device,
    progress: Progress = _quiet,
) -> Path:
    """Train the difficulty student (method.md §4.2) on the labeled images' teacher disparity; saves it to `out`.

    The teacher's disparities of the labeled set are computed once, in memory (the labeled set is the small one)."""
    if out.exists():
        return out  # a finished student from an earlier attempt
    teacher = load_depth_model(depth_checkpoint, device)[0]
    images = LabeledDataset(list(labeled), size=cfg.size)
    disps = []
    with torch.no_grad():
        for batch in DataLoader(images, batch_size=cfg.score_batch_size, num_workers=cfg.seg.num_workers):
            disps.append(normalize_disp(teacher.predict_disp(batch["image"].to(device))).half().cpu())
    del teacher
    data = _TeacherDisp(images, torch.cat(disps))
    student, losses = train_difficulty_student(cfg.student, data, device=device, progress=progress)
    save_checkpoint(out, {"model": student.state_dict(), "config": asdict(cfg.student), "kind": "difficulty_student",
                          "final_loss": losses[-1] if losses else math.nan})  # fmt: skip
    return out


def load_student(path: Path, device: torch.device) -> DepthStudent:
    blob = load_checkpoint(path, device)
    config = {k: tuple(v) if isinstance(v, list) else v for k, v in blob["config"].items()}
    student = DepthStudent(replace(StudentConfig(**config), weights=None))
    student.load_state_dict(blob["model"])
    return student.to(device).eval()


# ---------------------------------------------------------------------------------------------------- stage 3
@dataclass(frozen=True)
class RangeScores:
    """Scores of pool[start:end]; NaN where a criterion was not computed (no student / no segmentation model)."""

    start: int
    difficulty: np.ndarray  # (n,) float64
    entropy: np.ndarray  # (n,) float64


def feature_dim(depth_checkpoint: Path) -> int:
    """Width of one image's pooled feature vector: channels of ("upconv", 3) × 4 × 8."""
    return int(load_checkpoint(depth_checkpoint)["config"]["num_ch_dec"][FEATURE_STAGE]) * 4 * 8


def create_raw_features(path: Path, n_images: int, dim: int) -> None:
    """Preallocate the (N, D) float32 raw-feature file that `score_range` calls fill, one slice each."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n_images, dim)).flush()


@torch.no_grad()
def score_range(
    cfg: RoundConfig,
    pool: Sequence[FrameRecord],
    start: int,
    end: int,
    depth_checkpoint: Path,
    raw_features: Path,
    *,
    student_checkpoint: Path | None = None,
    seg_checkpoint: Path | None = None,
    device: torch.device,
    progress: Progress = _quiet,
) -> RangeScores:
    """Score pool[start:end] at the round's size, no augmentation (method.md §4.3 step 3).

    Writes the raw pooled teacher features of those rows into `raw_features` (made by `create_raw_features`), and
    returns difficulty (with a student) and entropy (with a segmentation model) for the slice."""
    teacher = load_depth_model(depth_checkpoint, device)[0]
    student = load_student(student_checkpoint, device) if student_checkpoint is not None else None
    seg = load_seg_model(seg_checkpoint, device) if seg_checkpoint is not None else None
    data = UnlabeledDataset(list(pool[start:end]), size=cfg.size)  # raises DataError naming an unreadable image
    loader = DataLoader(data, batch_size=cfg.score_batch_size, num_workers=cfg.seg.num_workers)
    feats = np.load(raw_features, mmap_mode="r+")
    n = end - start
    difficulty, entropy = np.full(n, np.nan), np.full(n, np.nan)
    for b, batch in enumerate(loader):
        image, rows = batch["image"].to(device), batch["index"].numpy()
        out = teacher(image)
        pooled = pool_feature_map(out["upconv"][FEATURE_STAGE])  # (B, C, 4, 8)
        feats[start + rows] = pooled.flatten(1).cpu().numpy()
        if student is not None:
            disp_t = normalize_disp(out["disp"][0].float())  # the student learned min-max normalised disparity
            difficulty[rows] = depth_difficulty(student(image), disp_t).double().cpu().numpy()
        if seg is not None:
            entropy[rows] = segmentation_entropy(seg(image)["seg"]).double().cpu().numpy()
        progress("score", (b + 1) / len(loader), f"{min((b + 1) * cfg.score_batch_size, n)}/{n} images")
    feats.flush()
    return RangeScores(start, difficulty, entropy)


def standardise_features(raw_path: Path, out_path: Path, chunk_rows: int = 4096) -> Path:
    """Standardise (N, C·4·8) raw pooled features per channel over images and cells (unbiased std, §4.3) into
    `out_path` (memory-mapped .npy, float32), chunk by chunk in float64. Zero-spread channels become 0."""
    raw = np.load(raw_path, mmap_mode="r")
    n, dim = raw.shape
    channels = dim // 32  # 4 × 8 cells per channel, channel-major
    total, total_sq = np.zeros(channels), np.zeros(channels)
    for r0 in range(0, n, chunk_rows):
        block = raw[r0 : r0 + chunk_rows].astype(np.float64).reshape(-1, channels, 32)  # (r, C, cells)
        total += block.sum((0, 2))
        total_sq += (block**2).sum((0, 2))
    count = n * 32
    mean = total / count
    var = np.maximum(total_sq - count * mean**2, 0.0) / max(count - 1, 1)
    std = np.sqrt(var)
    inv = np.where(std > 1e-12, 1.0 / np.where(std > 1e-12, std, 1.0), 0.0)
    out = np.lib.format.open_memmap(out_path, mode="w+", dtype=np.float32, shape=(n, dim))
    for r0 in range(0, n, chunk_rows):
        block = raw[r0 : r0 + chunk_rows].astype(np.float64).reshape(-1, channels, 32)
        out[r0 : r0 + chunk_rows] = ((block - mean[None, :, None]) * inv[None, :, None]).reshape(-1, dim)
    out.flush()
    return out_path


# ---------------------------------------------------------------------------------------------------- stage 4
@dataclass(frozen=True)
class Pick:
    """One chosen pool image and why: its rank (pick order), its feature distance to the nearest labeled or earlier
    chosen image, and its difficulty / entropy (None where not computed)."""

    index: int
    rank: int
    distance: float | None
    difficulty: float | None
    entropy: float | None
    combined: float | None


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def select(
    strategy: str,
    n_labeled: int,
    batch_size: int,
    seed: int,
    *,
    features: Tensor | None = None,
    difficulty: np.ndarray | None = None,
    entropy: np.ndarray | None = None,
    difficulty_weight: float = DIFFICULTY_WEIGHT,
) -> list[Pick]:
    """Choose `batch_size` unlabeled pool images (indices ≥ n_labeled) with the named strategy (method.md §4.3).

    `features` (N, D) standardised; `difficulty`/`entropy` (N,) with NaN allowed for labeled rows;
    `difficulty_weight` is λ of "diversity+difficulty" (score = distance + λ·difficulty)."""
    if strategy not in STRATEGIES:
        raise RoundInputError(f"unknown selection strategy {strategy!r}; known: {', '.join(sorted(STRATEGIES))}")
    n_pool = features.shape[0] if features is not None else len(difficulty if difficulty is not None else entropy)
    if batch_size > n_pool - n_labeled:
        raise RoundInputError(f"the batch of {batch_size} is larger than the {n_pool - n_labeled} unlabeled images")

    def tensor(a: np.ndarray | None) -> Tensor | None:
        return None if a is None else torch.from_numpy(np.nan_to_num(np.asarray(a, dtype=np.float64), nan=0.0))

    scores = PoolScores(n_pool, features=features, difficulty=tensor(difficulty), entropy=tensor(entropy),
                        difficulty_weight=difficulty_weight)  # fmt: skip
    labeled = list(range(n_labeled))
    chosen = STRATEGIES[strategy](scores, labeled, batch_size, seed)
    distances: list[float | None] = [None] * len(chosen)
    if features is not None:
        centres = labeled.copy()
        for k, j in enumerate(chosen):
            if centres:
                d = torch.cdist(features[j : j + 1].double(), features[centres].double())  # (1, |centres|)
                distances[k] = float(d.min())
            centres.append(j)
    picks = []
    for rank, (j, dist) in enumerate(zip(chosen, distances, strict=True)):
        diff = _finite(difficulty[j]) if difficulty is not None else None
        ent = _finite(entropy[j]) if entropy is not None else None
        combined = None
        if strategy == "diversity+difficulty" and dist is not None and diff is not None:
            combined = dist + difficulty_weight * diff  # the method's biased score (§4.3)
        elif strategy in ("difficulty", "entropy"):
            combined = diff if strategy == "difficulty" else ent
        elif strategy == "diversity":
            combined = dist
        picks.append(Pick(j, rank, dist, diff, ent, combined))
    return picks


# ---------------------------------------------------------------------------------------------------- the loop
@dataclass
class RoundOutcome:
    """What `run_round` did: the checkpoints it used or wrote, val mIoU (nan at cold start), and the picks
    (indices into `unlabeled`)."""

    depth_checkpoint: Path
    seg_checkpoint: Path | None
    miou: float
    per_class: list[float]
    picks: list[Pick]
    chosen: list[int]


def run_round(
    cfg: RoundConfig,
    labeled: Sequence[FrameRecord],
    unlabeled: Sequence[FrameRecord],
    val: Sequence[FrameRecord],
    batch_size: int,
    work_dir: Path,
    *,
    depth_checkpoint: Path | None = None,
    device: torch.device | None = None,
    progress: Progress = _quiet,
) -> RoundOutcome:
    """The whole round in one process, in the worker's stage order: [pretrain depth] → [train + student] → score →
    select. Files go to `work_dir` (depth.pt, seg.pt, student.pt, features.npy). Pre-labels are left to the caller
    (`models.prelabel.write_prelabels`). This is what the label-efficiency benchmark loops over."""
    device = device or resolve_device(cfg.device)
    work_dir.mkdir(parents=True, exist_ok=True)
    pool = [*labeled, *unlabeled]
    if batch_size < 1 or batch_size > len(unlabeled):
        raise RoundInputError(f"a batch of {batch_size} needs that many unlabeled images; there are {len(unlabeled)}")
    if depth_checkpoint is None:
        depth_checkpoint = pretrain_depth(cfg, pool, work_dir / "depth.pt", device=device, progress=progress)
    seg_ckpt = student_ckpt = None
    miou, per_class = math.nan, []
    if labeled:
        outcome = train_segmentation_model(cfg, labeled, unlabeled, val, depth_checkpoint, work_dir / "seg.pt",
                                           device=device, progress=progress)  # fmt: skip
        seg_ckpt, miou, per_class = outcome.checkpoint, outcome.miou, outcome.per_class
        if cfg.needs_difficulty:
            student_ckpt = train_student(cfg, labeled, depth_checkpoint, work_dir / "student.pt", device=device,
                                         progress=progress)  # fmt: skip
    raw = work_dir / "features.raw.npy"
    create_raw_features(raw, len(pool), feature_dim(depth_checkpoint))
    scores = score_range(cfg, pool, 0, len(pool), depth_checkpoint, raw, student_checkpoint=student_ckpt,
                         seg_checkpoint=seg_ckpt, device=device, progress=progress)  # fmt: skip
    features = load_features(standardise_features(raw, work_dir / "features.npy"))
    picks = select(cfg.strategy, len(labeled), batch_size, cfg.seed, features=features,
                   difficulty=scores.difficulty if student_ckpt else None,
                   entropy=scores.entropy if seg_ckpt else None, difficulty_weight=cfg.difficulty_weight)  # fmt: skip
    return RoundOutcome(depth_checkpoint, seg_ckpt, miou, per_class, picks, [p.index - len(labeled) for p in picks])
