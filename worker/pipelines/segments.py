"""Superpixel maps for a round's chosen images, beside their pre-labels (models/superpixels.py; docs/web.md).

Called by the predict stage once per queued image: the segments come from the image and the round's depth model,
and are written to `storage.segments_file`, next to the pre-label, where `GET /images/{id}/segments` finds them.
"""

from __future__ import annotations

from typing import Any

from service import storage


def write_round_segments(stage: Any, chosen: list[int], progress: Any) -> None:
    """stage: worker.pipelines.round_stages.Stage; chosen: image ids of the batch."""
    from models.superpixels import write_segments

    out = [stage.path(storage.segments_file(stage.project_id, i, stage.round_index)) for i in chosen]
    write_segments(stage.depth_checkpoint(), [stage.path(stage.images[i].path) for i in chosen], out,
                   size=stage.cfg.size, device=stage.device, progress=progress)  # fmt: skip
