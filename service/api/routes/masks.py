from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from starlette.datastructures import UploadFile

from service.api.deps import CurrentUser, SessionDep
from service.api.params import RowId
from service.api.responses import json_response
from service.crud import annotations as crud
from service.crud import images as images_crud
from service.crud import members
from service.db.tables import ProjectRole
from service.errors import Invalid
from service.masks import MaskFormat
from service.schemas import AnnotationPublic

router = APIRouter(tags=["masks"])

_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "image/png": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
            },
        },
    }
}


async def mask_payload(request: Request) -> bytes:
    """The PNG: the raw request body (`Content-Type: image/png`), or the `file` part of a multipart form. The size
    limit was enforced before this runs (service/api/limits.py)."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise Invalid("multipart mask upload needs a file part named 'file'")
        return await part.read()
    body = await request.body()
    if not body:
        raise Invalid("empty request body; send the mask PNG as the body or as the multipart part 'file'")
    return body


@router.put(
    "/images/{image_id}/mask",
    status_code=status.HTTP_201_CREATED,
    response_model=AnnotationPublic,
    responses={200: {"description": "identical retry: the existing version, nothing stored"}},
    openapi_extra=_BODY_DOC,
)
def put_mask(
    session: SessionDep,
    user: CurrentUser,
    image_id: RowId,
    data: Annotated[bytes, Depends(mask_payload)],
    format: Annotated[
        MaskFormat | None, Query(description="default: train_ids for single-channel PNGs, palette for RGB")
    ] = None,
) -> Response:
    """Submit a mask for an image you hold a lease on (the project's leads need no lease); stores a new version.
    Body: the PNG (`image/png`) or a multipart form with the PNG as `file`."""
    project_id = images_crud.get_image(session=session, image_id=image_id).project_id
    role = members.check_project_of(session=session, project_id=project_id, user=user, what=f"image {image_id}",
                                    roles=members.LABELERS)  # fmt: skip
    annotation, created = crud.submit_mask(
        session=session, image_id=image_id, user=user, data=data, fmt=format, as_lead=role == ProjectRole.LEAD
    )
    body = AnnotationPublic.model_validate(annotation)
    return json_response(body, status.HTTP_201_CREATED if created else status.HTTP_200_OK)
