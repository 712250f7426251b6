"""Tiny random datasets and configs for the segmentation tests (CPU, seconds)."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from models.seg_net import SegNetConfig
from models.seg_train import SegTrainConfig

NUM_CLASSES = 3
SIZE = 32


def tiny_net(variant: str = "transfer") -> SegNetConfig:
    return SegNetConfig(
        variant=variant, num_classes=NUM_CLASSES, encoder_layers=18, dilate_last=False, num_ch_dec=(8, 8, 16, 16, 16)
    )


def tiny_cfg(variant: str = "transfer", **kw) -> SegTrainConfig:
    base = {"net": tiny_net(variant), "iterations": 4, "checkpoint_every": 2, "seed": 0}
    base.update(kw)
    return SegTrainConfig(**base)


class StripesDataset(Dataset):
    """Images whose left half is dark (class 0), right half bright (class 1), with a class-2 square; learnable."""

    def __init__(self, n: int, labeled: bool = True, with_disp: bool = False, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.items = []
        for i in range(n):
            label = torch.zeros(SIZE, SIZE, dtype=torch.long)
            label[:, SIZE // 2 :] = 1
            y, x = torch.randint(0, SIZE - 8, (2,), generator=g).tolist()
            label[y : y + 8, x : x + 8] = 2
            image = (label.float() / 2).expand(3, -1, -1) + 0.05 * torch.randn(3, SIZE, SIZE, generator=g)
            item = {"image": image.clamp(0, 1).contiguous(), "index": torch.tensor(i)}
            if labeled:
                item["label"] = label
            else:
                item["label"] = torch.full_like(label, 255)
                item["is_labeled"] = torch.tensor(False)
            if with_disp:
                item["pseudo_disp"] = torch.rand(1, SIZE, SIZE, generator=g)
            self.items.append(item)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


class SequenceFakes(Dataset):
    """`SequenceBatch` items: three random frames and pinhole intrinsics of the SIZE×SIZE image."""

    def __init__(self, n: int, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        K = torch.tensor([[SIZE / 2, 0, SIZE / 2, 0], [0, SIZE / 2, SIZE / 2, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])
        self.items = []
        for i in range(n):
            prev, image, nxt = (torch.rand(3, SIZE, SIZE, generator=g) for _ in range(3))
            self.items.append({
                "image": image, "prev": prev, "next": nxt, "image_aug": image, "prev_aug": prev, "next_aug": nxt,
                "K": K, "inv_K": torch.linalg.inv(K), "index": torch.tensor(i),
            })  # fmt: skip

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]
