"""Label Studio as a front end (docs/labelstudio.md): link, sync, the webhook Label Studio calls, and the image
files its tasks point at. Link and sync are for leads; the webhook and the images carry their own secrets."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, HTTPException, Query, status
from fastapi.responses import FileResponse

from service import storage
from service.api.deps import ProjectLead, SessionDep
from service.api.params import RowId
from service.crud.images import get_image
from service.crud.projects import get_project
from service.labelstudio import signing
from service.labelstudio.link import link
from service.labelstudio.schemas import LinkCreate, LinkPublic, SyncResult
from service.labelstudio.sync import receive_webhook, sync

router = APIRouter(tags=["labelstudio"])


@router.post("/projects/{project_id}/labelstudio/link", status_code=status.HTTP_201_CREATED)
def link_project(session: SessionDep, project: ProjectLead, link_in: LinkCreate) -> LinkPublic:
    """Link the project to Label Studio: checks URL and token, creates the Label Studio project with one brush label
    per class (or checks an existing one's labels) and registers the webhook. A refusal is a 4xx naming it, and
    nothing is saved. The token is stored and never shown again."""
    return link(session=session, project=project, link_in=link_in)


@router.post("/projects/{project_id}/labelstudio/sync")
def sync_project(session: SessionDep, project: ProjectLead) -> SyncResult:
    """Poll and reconcile: take annotations the webhook missed, release skipped tasks, delete tasks of images depthal
    no longer queues, push queued images without a task. 503 when Label Studio is down (nothing changed)."""
    return sync(session, project=project)


@router.post("/labelstudio/webhook/{project_id}", responses={401: {"description": "wrong or missing secret"}})
def labelstudio_webhook(
    session: SessionDep,
    project_id: RowId,
    payload: Annotated[dict[str, Any], Body()],
    secret: Annotated[str | None, Header(alias=signing.WEBHOOK_HEADER)] = None,
) -> SyncResult:
    """Label Studio's ANNOTATION_CREATED / ANNOTATION_UPDATED webhook; authenticated by the secret header the link
    registered. The same delivery twice stores one version."""
    if not signing.matches(secret, signing.webhook_secret(project_id)):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"wrong or missing {signing.WEBHOOK_HEADER} header")
    return receive_webhook(session, project=get_project(session=session, project_id=project_id), payload=payload)


@router.get(
    "/labelstudio/images/{image_id}",
    response_class=FileResponse,
    responses={401: {"description": "wrong or missing signature"}},
)
def labelstudio_image(session: SessionDep, image_id: RowId, sig: Annotated[str | None, Query()] = None) -> FileResponse:
    """An image file for Label Studio's editor, by the signed URL in the task's data (no depthal token needed). Any
    origin may read it (CORS): the editor loads images with a cross-origin request, and the signature is the key."""
    if not signing.matches(sig, signing.image_signature(image_id)):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong or missing image signature")
    image = get_image(session=session, image_id=image_id)
    return FileResponse(storage.absolute(image.path), headers={"Access-Control-Allow-Origin": "*"})
