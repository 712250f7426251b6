"""Torch datasets over `FrameRecord`s, yielding the TypedDicts of `models.data.batch`.

Built from records, not from a root folder: the worker makes records from database rows, tests and benchmarks
from `cityscapes.find_frames`. Geometry conventions (pixel centres at integer coordinates):

- resize to `size` (antialiased images, nearest labels/depth): K scaled by `cityscapes.scale_intrinsics`;
- crop at (x1, y1): u0 → u0 − x1, v0 → v0 − y1 (`method.md` §2.1);
- horizontal flip of a W-wide image: u → W − 1 − u, so u0 → W − 1 − u0 and fx, fy, v0 stay. This is the correct
  flip; the original code's quirk (u0 → 2048 − u0 *and* v0 → 1024 − v0, §2.1 / §8.1) is deliberately not
  reproduced. A flipped triplet is still a valid video: its ego-motion is the mirrored one (x → −x).

Randomness: with `seed=None` each item draws from torch's global generator (so `torch.manual_seed` and DataLoader
worker seeding make it reproducible). With `seed=s` item i uses a generator seeded by (s, epoch, i, n, b): `epoch`
from `set_epoch`, n = how often this dataset object has produced item i, b = the DataLoader's per-epoch base seed
inside a worker process (0 outside). So a fresh dataset gives the same items for the same fetches, repeated
epochs get new crops, flips and jitter even without `set_epoch`, and the worker count does not matter (except
with `persistent_workers=True`, where n depends on which worker served an item before).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, get_worker_info

from contracts.cityscapes import (
    FrameRecord,
    image_size,
    load_depth,
    load_image,
    load_label,
    scale_intrinsics,
)
from models.data.batch import IGNORE_INDEX, DepthEvalBatch, LabeledBatch, SequenceBatch, UnlabeledBatch

COLOR_JITTER = {"brightness": 0.2, "contrast": 0.2, "saturation": 0.2, "hue": 0.1}  # §2.1, torchvision semantics


def _to_tensor(img: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float().div_(255.0)  # (3, H, W)


def crop_flip_intrinsics(K: np.ndarray, x1: int, y1: int, width: int, flip: bool) -> np.ndarray:
    """K after cropping at (x1, y1) to `width` columns, then optionally flipping horizontally."""
    K = np.array(K, dtype=np.float64, copy=True)
    K[0, 2] -= x1
    K[1, 2] -= y1
    if flip:
        K[0, 2] = width - 1 - K[0, 2]
    return K


def _k4(K: np.ndarray) -> Tensor:
    out = torch.eye(4, dtype=torch.float32)
    out[:3, :3] = torch.from_numpy(K).float()
    return out


def k_pyramid(K: Tensor, scales: int) -> Tensor:
    """(S, 4, 4): K for scale s has its first two rows divided by 2**s (`method.md` §2.1)."""
    Ks = K.unsqueeze(0).repeat(scales, 1, 1)
    for s in range(scales):
        Ks[s, :2] /= 2**s
    return Ks


def _rgb_to_gray(img: Tensor) -> Tensor:
    return (0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2]).unsqueeze(0)  # (1, H, W)


def _shift_hue(img: Tensor, shift: float) -> Tensor:
    """Rotate hue by `shift` turns (torchvision's hue factor), via HSV."""
    r, g, b = img
    maxc, _ = img.max(0)
    minc, _ = img.min(0)
    delta = maxc - minc
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    h = torch.where(maxc == r, ((g - b) / safe) % 6, torch.where(maxc == g, (b - r) / safe + 2, (r - g) / safe + 4))
    h = torch.where(delta > 0, h / 6, torch.zeros_like(h))
    s = torch.where(maxc > 0, delta / torch.where(maxc > 0, maxc, torch.ones_like(maxc)), torch.zeros_like(maxc))
    h = (h + shift) % 1.0
    # HSV -> RGB with the piecewise-linear formula f(n) = v − v·s·clamp(min(k, 4 − k), 0, 1), k = (n + 6h) mod 6
    out = []
    for n in (5.0, 3.0, 1.0):
        k = (n + h * 6) % 6
        out.append(maxc - maxc * s * torch.clamp(torch.minimum(k, 4 - k), 0, 1))
    return torch.stack(out)


def color_jitter(frames: list[Tensor], gen: torch.Generator) -> list[Tensor]:
    """Apply ONE random colour jitter (ColorJitter(0.2, 0.2, 0.2, 0.1) semantics, random order) to every frame."""

    def uniform(k: str) -> float:  # U(-x, x) for the jitter strength x of `k`
        return COLOR_JITTER[k] * (2 * torch.rand((), generator=gen).item() - 1)

    b, c, s = (1 + uniform(k) for k in ("brightness", "contrast", "saturation"))
    hue = uniform("hue")
    order = torch.randperm(4, generator=gen).tolist()
    out = []
    for img in frames:
        for op in order:
            if op == 0:
                img = (img * b).clamp(0, 1)
            elif op == 1:
                img = (c * img + (1 - c) * _rgb_to_gray(img).mean()).clamp(0, 1)
            elif op == 2:
                img = (s * img + (1 - s) * _rgb_to_gray(img)).clamp(0, 1)
            else:
                img = _shift_hue(img, hue)
        out.append(img)
    return out


class _Base(Dataset):
    """Shared resize / crop / flip machinery. `size` = (H, W) resize first; `crop` = (h, w) random crop after."""

    def __init__(
        self,
        records: Sequence[FrameRecord],
        *,
        size: tuple[int, int] | None = None,
        crop: tuple[int, int] | None = None,
        flip: bool = False,
        seed: int | None = None,
    ) -> None:
        self.records = list(records)
        self.size, self.crop, self.flip, self.seed = size, crop, flip, seed
        self.epoch = 0
        self._fetches: Counter[int] = Counter()
        if size is not None and crop is not None and (crop[0] > size[0] or crop[1] > size[1]):
            raise ValueError(f"crop {crop} is larger than size {size}")

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        """With a fixed `seed`, changes the random crops/flips/jitter from epoch to epoch."""
        self.epoch = epoch

    def _generator(self, index: int) -> torch.Generator:
        gen = torch.Generator()
        if self.seed is None:
            gen.manual_seed(int(torch.randint(0, 2**62, ()).item()))
            return gen
        info = get_worker_info()
        base = (info.seed - info.id) % 2**63 if info is not None else 0  # same in every worker of one epoch
        n = self._fetches[index]
        self._fetches[index] += 1
        gen.manual_seed(int(np.random.SeedSequence([self.seed, self.epoch, index, n, base]).generate_state(1)[0]))
        return gen

    def _sized_K(self, rec: FrameRecord) -> tuple[tuple[int, int], np.ndarray]:
        """(resized size, K at that size) for one record."""
        native = image_size(rec.image)
        size = tuple(self.size) if self.size is not None else native
        return size, scale_intrinsics(rec.K, native, size) if size != native else np.array(rec.K, dtype=np.float64)

    def _geometry(self, rec: FrameRecord, gen: torch.Generator) -> tuple[tuple[int, int], np.ndarray, int, int, bool]:
        """(resized size, K at that size, crop x1, crop y1, flip) for one item."""
        size, K = self._sized_K(rec)
        x1 = y1 = 0
        if self.crop is not None:
            if self.crop[0] > size[0] or self.crop[1] > size[1]:
                raise ValueError(f"crop {self.crop} is larger than the image size {size} of {rec.image}")
            y1 = int(torch.randint(0, size[0] - self.crop[0] + 1, (), generator=gen))
            x1 = int(torch.randint(0, size[1] - self.crop[1] + 1, (), generator=gen))
        flip = self.flip and bool(torch.rand((), generator=gen) < 0.5)
        width = self.crop[1] if self.crop is not None else size[1]
        return size, crop_flip_intrinsics(K, x1, y1, width, flip), x1, y1, flip

    def _apply(self, arr: np.ndarray, x1: int, y1: int, flip: bool) -> np.ndarray:
        if self.crop is not None:
            arr = arr[y1 : y1 + self.crop[0], x1 : x1 + self.crop[1]]
        return arr[:, ::-1] if flip else arr

    def _require_neighbours(self) -> None:
        missing = [r.image for r in self.records if r.prev is None or r.next is None]
        if missing:
            raise ValueError(f"{len(missing)} record(s) lack a neighbour frame, first: {missing[0]}")

    def _neighbours(self, rec: FrameRecord, size: tuple[int, int], K: np.ndarray, x1: int, y1: int,
                    flip: bool) -> dict[str, Tensor]:  # fmt: skip
        """Frames t-1, t+1 with the item's resize / crop / flip, and K (4×4) as given, for a depth loss."""
        K4 = _k4(K)
        return {"prev": _to_tensor(self._apply(load_image(rec.prev, size), x1, y1, flip)),
                "next": _to_tensor(self._apply(load_image(rec.next, size), x1, y1, flip)),
                "K": K4, "inv_K": torch.linalg.inv(K4)}  # fmt: skip


class SequenceDataset(_Base):
    """Triplets (t-1, t, t+1) for self-supervised depth → `SequenceBatch` (`method.md` §2.1).

    Same resize, crop and flip for all three frames; colour jitter (p = `color_aug_p`) on the `*_aug` copies only,
    the same jitter for all three. Records must have both neighbours.
    """

    def __init__(self, records: Sequence[FrameRecord], *, size: tuple[int, int] | None = None,
                 crop: tuple[int, int] | None = None, flip: bool = True, color_aug_p: float = 0.5,
                 scales: int = 4, seed: int | None = None) -> None:  # fmt: skip
        super().__init__(records, size=size, crop=crop, flip=flip, seed=seed)
        self._require_neighbours()
        self.color_aug_p, self.scales = color_aug_p, scales

    def __getitem__(self, index: int) -> SequenceBatch:
        rec = self.records[index]
        gen = self._generator(index)
        size, K, x1, y1, flip = self._geometry(rec, gen)
        frames = [_to_tensor(self._apply(load_image(p, size), x1, y1, flip)) for p in (rec.image, rec.prev, rec.next)]
        aug = color_jitter(frames, gen) if torch.rand((), generator=gen) < self.color_aug_p else frames
        K4 = _k4(K)
        return SequenceBatch(
            image=frames[0], prev=frames[1], next=frames[2], image_aug=aug[0], prev_aug=aug[1], next_aug=aug[2],
            K=K4, inv_K=torch.linalg.inv(K4), K_pyramid=k_pyramid(K4, self.scales),
            index=torch.tensor(index, dtype=torch.int64),
        )  # fmt: skip


class LabeledDataset(_Base):
    """Images with ground-truth masks → `LabeledBatch`. Records must have a label; with `neighbours` also both
    neighbour frames, which the items then carry with K (the multi-task depth loss on this batch)."""

    def __init__(self, records: Sequence[FrameRecord], *, neighbours: bool = False, **kwargs) -> None:
        super().__init__(records, **kwargs)
        missing = [r.image for r in self.records if r.label is None]
        if missing:
            raise ValueError(f"{len(missing)} record(s) have no label, first: {missing[0]}")
        self.neighbours = neighbours
        if neighbours:
            self._require_neighbours()

    def __getitem__(self, index: int) -> LabeledBatch:
        rec = self.records[index]
        size, K, x1, y1, flip = self._geometry(rec, self._generator(index))
        image = _to_tensor(self._apply(load_image(rec.image, size), x1, y1, flip))
        label_np = self._apply(load_label(rec.label, size, rec.label_format), x1, y1, flip)
        label = torch.from_numpy(np.ascontiguousarray(label_np))
        out = LabeledBatch(image=image, label=label.long(), index=torch.tensor(index, dtype=torch.int64))
        if self.neighbours:
            out.update(self._neighbours(rec, size, K, x1, y1, flip))
        return out


class UnlabeledDataset(_Base):
    """Images without masks → `UnlabeledBatch`.

    Options: `is_labeled` (one bool per record) adds `label` (ground truth where labeled, else all 255) and
    `is_labeled`, the method's `mix_use_gt`; `pseudo_disp` (one PNG path per record) adds the precomputed
    disparity, min-max normalised per image (§3.1); `neighbours` adds frames t-1, t+1 and K (the multi-task net's
    depth loss on this batch).

    With `crop`, the items stay whole (resized and flipped) and carry `crop_box`: the training step cuts the window
    out after DepthMix's disparity was inferred and normalised on the whole image, as the method does
    (`models.seg_step.consistency_loss`).
    """

    def __init__(self, records: Sequence[FrameRecord], *, is_labeled: Sequence[bool] | None = None,
                 pseudo_disp: Sequence[Path] | None = None, neighbours: bool = False, **kwargs) -> None:  # fmt: skip
        super().__init__(records, **kwargs)
        self.neighbours = neighbours
        if neighbours:
            self._require_neighbours()
        for name, opt in (("is_labeled", is_labeled), ("pseudo_disp", pseudo_disp)):
            if opt is not None and len(opt) != len(self.records):
                raise ValueError(f"{name} has {len(opt)} entries for {len(self.records)} records")
        if is_labeled is not None:
            bad = [r.image for r, flag in zip(self.records, is_labeled, strict=True) if flag and r.label is None]
            if bad:
                raise ValueError(f"record marked labeled has no label: {bad[0]}")
        self.is_labeled = None if is_labeled is None else [bool(x) for x in is_labeled]
        self.pseudo_disp = None if pseudo_disp is None else [Path(p) for p in pseudo_disp]

    def _apply(self, arr: np.ndarray, x1: int, y1: int, flip: bool) -> np.ndarray:
        return arr[:, ::-1] if flip else arr  # the crop waits for the step (crop_box)

    def __getitem__(self, index: int) -> UnlabeledBatch:
        rec = self.records[index]
        size, _, x1, y1, flip = self._geometry(rec, self._generator(index))
        out = UnlabeledBatch(image=_to_tensor(self._apply(load_image(rec.image, size), x1, y1, flip)),
                             index=torch.tensor(index, dtype=torch.int64))  # fmt: skip
        if self.crop is not None:
            h, w = self.crop
            left = size[1] - x1 - w if flip else x1  # the window drawn on the unflipped image, found in the flipped one
            out["crop_box"] = torch.tensor([y1, left, h, w], dtype=torch.int64)
        if self.neighbours:  # K of the whole flipped image: cutting the crop shifts it (models.seg_step.cut_crops)
            whole_K = crop_flip_intrinsics(self._sized_K(rec)[1], 0, 0, size[1], flip)
            out.update(self._neighbours(rec, size, whole_K, x1, y1, flip))
        if self.is_labeled is not None:
            labeled = self.is_labeled[index]
            h, w = out["image"].shape[1:]
            label = self._apply(load_label(rec.label, size, rec.label_format), x1, y1, flip) if labeled else None
            out["label"] = (torch.from_numpy(np.ascontiguousarray(label)).long() if labeled
                            else torch.full((h, w), IGNORE_INDEX, dtype=torch.int64))  # fmt: skip
            out["is_labeled"] = torch.tensor(labeled)
        if self.pseudo_disp is not None:
            disp = self._apply(load_depth(self.pseudo_disp[index], size) * 256.0, x1, y1, flip).astype(np.float32)
            lo, hi = float(disp.min()), float(disp.max())
            disp = (disp - lo) / (hi - lo) if hi > lo else np.zeros_like(disp)
            out["pseudo_disp"] = torch.from_numpy(np.ascontiguousarray(disp)).unsqueeze(0)  # (1, H, W)
        return out


class DepthEvalDataset(_Base):
    """Frames with true depth (synthetic world) → `DepthEvalBatch`; depth is nearest-resized, 0 = no depth."""

    def __init__(self, records: Sequence[FrameRecord], **kwargs) -> None:
        super().__init__(records, **kwargs)
        missing = [r.image for r in self.records if r.depth is None]
        if missing:
            raise ValueError(f"{len(missing)} record(s) have no true depth, first: {missing[0]}")

    def __getitem__(self, index: int) -> DepthEvalBatch:
        rec = self.records[index]
        size, _, x1, y1, flip = self._geometry(rec, self._generator(index))
        image = _to_tensor(self._apply(load_image(rec.image, size), x1, y1, flip))
        depth = self._apply(load_depth(rec.depth, size), x1, y1, flip)
        return DepthEvalBatch(image=image, depth_gt=torch.from_numpy(np.ascontiguousarray(depth)).unsqueeze(0),
                              index=torch.tensor(index, dtype=torch.int64))  # fmt: skip
