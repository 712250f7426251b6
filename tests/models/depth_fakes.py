"""A tiny stand-in for the sequence dataset: smooth random frames whose neighbours are shifted copies."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset


class ShiftedFrames(Dataset):
    """SequenceBatch items (unbatched) of size h×w: frame t±1 = frame t shifted by ∓1 pixel horizontally."""

    def __init__(self, n: int = 8, h: int = 32, w: int = 64, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.frames = F.interpolate(torch.rand(n, 3, h // 4, w // 4 + 2, generator=g), size=(h, w + 8), mode="bilinear")
        self.h, self.w = h, w

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        f = self.frames[i]
        image, prev, nxt = f[:, :, 4 : 4 + self.w], f[:, :, 3 : 3 + self.w], f[:, :, 5 : 5 + self.w]
        K = torch.eye(4)
        K[0, 0] = K[1, 1] = 0.6 * self.w
        K[0, 2], K[1, 2] = self.w / 2, self.h / 2
        pyramid = torch.stack([torch.diag(torch.tensor([2.0**-s, 2.0**-s, 1, 1])) @ K for s in range(4)])
        return {
            "image": image, "prev": prev, "next": nxt,
            "image_aug": image, "prev_aug": prev, "next_aug": nxt,
            "K": K, "inv_K": torch.linalg.inv(K), "K_pyramid": pyramid, "index": torch.tensor(i),
        }  # fmt: skip
