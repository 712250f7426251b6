"""Checkpoint files: one dict per file, written atomically so an interrupted save never leaves a torn file.

A checkpoint carries the config needed to rebuild its model (style principle 9): `{"config": asdict(cfg),
"model": state_dict, "optimizer": ..., "step": int, ...}`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write `payload` to `path` via a temporary file in the same directory and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint dict written by `save_checkpoint` (tensors, numbers, strings, lists, dicts only)."""
    blob = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(blob, dict) or "model" not in blob:
        raise ValueError(f"{path} is not a depthal checkpoint (expected a dict with a 'model' entry)")
    return blob
