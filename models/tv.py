"""torchvision import that survives a CPU torch next to a CUDA torchvision build.

On the project's CPU machines torchvision 0.28.0 is a CUDA build whose C++ ops cannot load against CPU torch 2.13,
so `import torchvision` fails with "operator torchvision::nms does not exist". Defining the two op schemas before
the first import lets the pure-Python parts (models, transforms) load; `ops.nms` itself stays unusable. On a
normal install the ops exist and this module does nothing.
"""

from __future__ import annotations

import types

import torch

_fragment: torch.library.Library | None = None


def _define_missing_ops() -> None:
    global _fragment
    if _fragment is not None:
        return
    _fragment = torch.library.Library("torchvision", "FRAGMENT")  # kept alive: the schemas die with it
    _fragment.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _fragment.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")


def import_torchvision() -> types.ModuleType:
    """Return the torchvision module, patching in missing op schemas only when the plain import fails."""
    try:
        import torchvision
    except RuntimeError as err:
        if "torchvision::nms" not in str(err):
            raise
        _define_missing_ops()
        import importlib
        import sys

        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]  # drop the half-initialised modules of the failed import
        torchvision = importlib.import_module("torchvision")
    return torchvision
