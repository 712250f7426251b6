from __future__ import annotations

from fastapi import APIRouter, Response, status
from sqlalchemy.orm import Session

from service import queue
from service.api.deps import CurrentUser, ProjectLead, SessionDep
from service.api.params import RowId
from service.api.responses import json_response
from service.crud import images as images_crud
from service.crud import members
from service.db.tables import Image, Lease
from service.schemas import (
    ImagePublic,
    ImagesPublic,
    LeasePublic,
    LeaseWithImage,
    PrelabelLinks,
    RequeueSkipped,
    SkipRequest,
)
from service.take_image import take_image

router = APIRouter(tags=["queue"])


@router.post(
    "/projects/{project_id}/queue/next",
    response_model=LeaseWithImage,
    responses={204: {"description": "nothing is queued"}},
)
def next_image(session: SessionDep, user: CurrentUser, project_id: RowId) -> Response:
    """Your open lease in this project if you have one, else a new lease on the best-ranked queued image (the
    project's annotators and leads)."""
    members.require(session=session, project_id=project_id, user=user, roles=members.LABELERS,
                    missing=f"project {project_id} does not exist")  # fmt: skip
    got = queue.next_lease(session, project_id=project_id, annotator_id=user.id)
    if got is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    lease, image = got
    return _lease_response(session, lease, image)


@router.post("/images/{image_id}/lease", response_model=LeaseWithImage)
def lease_image(session: SessionDep, user: CurrentUser, image_id: RowId) -> Response:
    """Lease this queued image (e.g. take back one whose lease expired while you were drawing); your open lease on
    it if you hold one. Refused (409) if you hold another open lease in its project or the image is not queued."""
    image = images_crud.get_image(session=session, image_id=image_id)
    members.check_project_of(session=session, project_id=image.project_id, user=user, what=f"image {image_id}",
                             roles=members.LABELERS)  # fmt: skip
    lease, image = take_image(session, image_id=image_id, annotator_id=user.id)
    return _lease_response(session, lease, image)


def _lease_response(session: Session, lease: Lease, image: Image) -> Response:
    """The `LeaseWithImage` body shared by `next` and `POST /images/{id}/lease`."""
    links = None
    if image.prelabel_path is not None:
        links = PrelabelLinks(class_ids_url=f"/images/{image.id}/prelabel",
                              overlay_url=f"/images/{image.id}/prelabel/overlay")  # fmt: skip
    body = LeaseWithImage(
        **LeasePublic.model_validate(lease).model_dump(),
        image=ImagePublic.model_validate(image),
        has_prelabel=image.prelabel_path is not None,
        prelabel=links,
        reason=queue.selection_reason(session, image),
    )
    session.rollback()  # end selection_reason's read here, so the session closes without a thread hand-off (deps.py)
    return json_response(body)


@router.post("/leases/{lease_id}/heartbeat")
def heartbeat(session: SessionDep, user: CurrentUser, lease_id: RowId) -> LeasePublic:
    """Extend your open lease by the lease TTL from now."""
    return LeasePublic.model_validate(queue.heartbeat(session, lease_id=lease_id, user_id=user.id))


@router.post("/leases/{lease_id}/release")
def release(session: SessionDep, user: CurrentUser, lease_id: RowId) -> LeasePublic:
    """Give the image back to the queue."""
    return LeasePublic.model_validate(queue.release(session, lease_id=lease_id, user_id=user.id))


@router.post("/leases/{lease_id}/skip")
def skip(session: SessionDep, user: CurrentUser, lease_id: RowId, body: SkipRequest | None = None) -> LeasePublic:
    """Answer "cannot label this image" (optional body `{"reason"}`): it leaves the queue as `skipped`."""
    reason = body.reason if body is not None else None
    return LeasePublic.model_validate(queue.skip(session, lease_id=lease_id, user_id=user.id, reason=reason))


@router.post("/projects/{project_id}/queue/requeue-skipped")
def requeue_skipped(session: SessionDep, project: ProjectLead, body: RequeueSkipped | None = None) -> ImagesPublic:
    """Put skipped images (all of the project's, or `image_ids`) back in the queue at the rank they had."""
    image_ids = body.image_ids if body is not None else None
    images = images_crud.requeue_skipped(session=session, project=project, image_ids=image_ids)
    return ImagesPublic(data=[ImagePublic.model_validate(i) for i in images], count=len(images))
