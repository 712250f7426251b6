from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, Response, UploadFile, status

from service.api.deps import CurrentUser, SessionDep
from service.crud import annotations as crud
from service.masks import MaskFormat
from service.schemas import AnnotationPublic

router = APIRouter(tags=["masks"])


@router.put(
    "/images/{image_id}/mask",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "identical retry: the existing version, nothing stored"}},
)
def put_mask(
    session: SessionDep,
    user: CurrentUser,
    image_id: int,
    response: Response,
    file: Annotated[UploadFile, File(description="PNG mask")],
    format: Annotated[
        MaskFormat | None, Query(description="default: train_ids for single-channel PNGs, palette for RGB")
    ] = None,
) -> AnnotationPublic:
    """Submit a mask for an image you hold a lease on (leads need no lease); stores a new version."""
    annotation, created = crud.submit_mask(
        session=session, image_id=image_id, user=user, data=file.file.read(), fmt=format
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return AnnotationPublic.model_validate(annotation)
