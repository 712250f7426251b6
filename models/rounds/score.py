"""Stage 3 of a round: one teacher pass over a slice of the pool (method.md §4.3 step 3).

Raw pooled ("upconv", 3) features go into a shared memory-mapped file (each scoring shard writes its own rows), with
the difficulty (student vs teacher) and the segmentation entropy of each image; `standardise_features` then
standardises the whole file per channel before selection."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from contracts.cityscapes import FrameRecord
from models.checkpoint import load_checkpoint
from models.data.datasets import UnlabeledDataset
from models.depth_model import load_depth_model
from models.difficulty import depth_difficulty, load_student, segmentation_entropy
from models.features import pool_feature_map
from models.progress import Progress, quiet
from models.rounds.config import RoundConfig
from models.seg_step import normalize_disp
from models.seg_train import load_seg_model

FEATURE_STAGE = 3  # ("upconv", 3): 256 ch @ H/8, the method's diversity feature (§4.3)


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
    progress: Progress = quiet,
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
