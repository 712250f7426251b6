from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from service import export
from service.api.deps import ProjectLead, SessionDep

router = APIRouter(tags=["export"])


def _chunks(fh: IO[bytes]) -> Iterator[bytes]:
    with fh:
        while chunk := fh.read(1 << 20):
            yield chunk


@router.get("/projects/{project_id}/export", response_class=StreamingResponse)
def export_labels(session: SessionDep, project: ProjectLead) -> StreamingResponse:
    """The project's newest masks as a zip in Cityscapes gtFine layout (labelTrainIds + color PNGs)."""
    fh, count = export.build_zip(session=session, project=project)
    return StreamingResponse(
        _chunks(fh),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="project{project.id}_gtFine.zip"',
            "X-Labeled-Images": str(count),
        },
    )
