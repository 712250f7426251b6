"""`depthal` sub-commands for the model library. Modules here import torch only inside their `run` functions."""

from __future__ import annotations

import argparse


def parse_size(text: str) -> tuple[int, int]:
    """argparse type for an image size written HxW, e.g. 128x256 → (128, 256)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 128x256 (HxW), got {text!r}") from None
    return h, w
