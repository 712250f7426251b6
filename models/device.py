"""The one place a device setting becomes a `torch.device`."""

from __future__ import annotations

import torch


class DeviceUnavailable(ValueError):
    """A GPU-only setting on a machine without CUDA; the message says so."""


def resolve_device(setting: str | torch.device | None = "auto") -> torch.device:
    """ "auto" (or None) → CUDA when available, else CPU; "cpu", "cuda", "cuda:1" as given. Asking for CUDA without
    a GPU is a `DeviceUnavailable` naming the setting, not a crash at the first tensor."""
    if setting is None or setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(setting)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable(f"device {str(setting)!r} is GPU only (CUDA), but this machine has no GPU")
    return device
