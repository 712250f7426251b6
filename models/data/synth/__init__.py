"""The synthetic street world: procedural scenes, a numpy ray caster, and a Cityscapes-layout writer (torch-free).

`generate_world(out, sequences=..., size=(H, W), seed=...)` is the entry point; `depthal synth` wraps it.
"""

from models.data.synth.layout import ARCHETYPES, build_scene
from models.data.synth.render import Frame, render
from models.data.synth.world import WorldSummary, generate_world, intrinsics, read_archetypes

__all__ = [
    "ARCHETYPES", "Frame", "WorldSummary", "build_scene", "generate_world", "intrinsics", "read_archetypes", "render",
]  # fmt: skip
