"""A sync: the poll that catches up on missed webhooks and the reconcile that keeps depthal's holds and Label
Studio's tasks in agreement. Safe to run any time, any number of times; `depthal labelstudio sync` and
`POST /projects/{id}/labelstudio/sync` run it, and the round's queue stage runs its push.

Steps, each committed as it goes, so a sync cut short by an outage loses nothing and the next one resumes:
1. read every task of the Label Studio project (Label Studio down: `Unavailable`, nothing changed);
2. for each tracked task: gone from Label Studio → its hold is released (REMOVED); its newest annotation not yet
   taken → taken (`take.py`: stored, released or refused);
3. open tasks whose image depthal no longer holds for them (labelled elsewhere, unqueued, hold expired and the image
   leased by someone else) → the task is deleted in Label Studio (REMOVED); a hold that expired while its image is
   still queued is taken again;
4. tasks carrying a `depthal_image` that no row tracks (a push cut short) → adopted if the image is queued, else
   deleted;
5. queued images without a task → pushed (`push.py`), and the holds of open tasks renewed.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.base import utcnow
from service.db.tables import Image, ImageState, LabelStudioTask, LabelStudioTaskStatus, Lease, LeaseStatus, Project
from service.errors import ServiceError
from service.labelstudio import holds
from service.labelstudio.client import LabelStudioClient
from service.labelstudio.link import client_for
from service.labelstudio.push import push, record
from service.labelstudio.schemas import SyncResult
from service.labelstudio.take import newest, take

# Tasks whose annotations a sync reads: a skipped (released) task may still be labelled later in Label Studio
POLLED = (LabelStudioTaskStatus.OPEN, LabelStudioTaskStatus.LABELED, LabelStudioTaskStatus.RELEASED)
LIVE = (LabelStudioTaskStatus.OPEN, LabelStudioTaskStatus.LABELED)


def sync(session: Session, *, project: Project) -> SyncResult:
    link, client = client_for(project)
    with client:
        return _sync(
            session,
            project=project,
            client=client,
            ls_project=link.project,
            public_url=link.public_url,
            live_model=link.ml_backend is not None,
        )


def _sync(
    session: Session,
    *,
    project: Project,
    client: LabelStudioClient,
    ls_project: int,
    public_url: str,
    live_model: bool,
) -> SyncResult:
    result = SyncResult()
    tasks = {int(t["id"]): t for t in client.tasks(ls_project)}
    email_of = lru_cache(maxsize=None)(client.user_email)
    rows = list(
        session.scalars(
            select(LabelStudioTask).where(LabelStudioTask.project_id == project.id, LabelStudioTask.status.in_(POLLED))
        )
    )
    for row in rows:
        task = tasks.get(row.task_id)
        if task is None:
            _remove(session, row, result)
            continue
        annotation = newest(list(task.get("annotations") or []))
        if annotation is not None:
            take(session, project=project, row=row, annotation=annotation, email_of=email_of, result=result)
    _reconcile_open(session, project=project, client=client, result=result)
    _adopt(session, project=project, client=client, tasks=tasks, result=result)
    push(
        session,
        project=project,
        client=client,
        ls_project=ls_project,
        public_url=public_url,
        result=result,
        live_model=live_model,
    )
    open_leases = session.scalars(
        select(LabelStudioTask.lease_id).where(
            LabelStudioTask.project_id == project.id, LabelStudioTask.status == LabelStudioTaskStatus.OPEN
        )
    )
    holds.renew(session, [i for i in open_leases if i is not None], utcnow())
    session.commit()
    return result


def _remove(session: Session, row: LabelStudioTask, result: SyncResult) -> None:
    if row.status == LabelStudioTaskStatus.OPEN:
        holds.end(session, row.lease_id, labeled=False)
        result.removed.append(row.image_id)
    row.status = LabelStudioTaskStatus.REMOVED
    session.commit()


def _reconcile_open(session: Session, *, project: Project, client: LabelStudioClient, result: SyncResult) -> None:
    """Open tasks whose image is not held for them any more: hold again if it is queued, else delete the task."""
    rows = session.execute(
        select(LabelStudioTask, Image.state, Lease.status)
        .join(Image, Image.id == LabelStudioTask.image_id)
        .outerjoin(Lease, Lease.id == LabelStudioTask.lease_id)
        .where(LabelStudioTask.project_id == project.id, LabelStudioTask.status == LabelStudioTaskStatus.OPEN)
    ).all()
    holder_id = holds.holder(session, project.id)
    for row, state, lease_status in rows:
        if lease_status == LeaseStatus.OPEN and state == ImageState.LEASED:
            continue  # held for its task, as it should be
        holds.end(session, row.lease_id, labeled=state == ImageState.LABELED)  # e.g. a lead labelled it meanwhile
        if state in (ImageState.QUEUED, ImageState.LEASED):
            session.flush()
            row.lease_id = holds.hold(session, image_id=row.image_id, holder_id=holder_id, now=utcnow())
            if row.lease_id is not None:
                session.commit()
                continue
        task_id = row.task_id
        session.commit()  # no transaction open while Label Studio works
        client.delete_task(task_id)
        row.status = LabelStudioTaskStatus.REMOVED
        result.removed.append(row.image_id)
        session.commit()


def _adopt(
    session: Session,
    *,
    project: Project,
    client: LabelStudioClient,
    tasks: dict[int, dict[str, Any]],
    result: SyncResult,
) -> None:
    known = set(session.scalars(select(LabelStudioTask.task_id).where(LabelStudioTask.project_id == project.id)))
    tracked_images = set(
        session.scalars(
            select(LabelStudioTask.image_id).where(
                LabelStudioTask.project_id == project.id, LabelStudioTask.status.in_(LIVE)
            )
        )
    )
    pairs = []
    for task_id, task in tasks.items():
        image_id = (task.get("data") or {}).get("depthal_image")
        if task_id in known or not isinstance(image_id, int):
            continue
        in_project = session.scalar(select(Image.id).where(Image.id == image_id, Image.project_id == project.id))
        if in_project is None or image_id in tracked_images:
            continue  # not ours to judge, or a second task for a tracked image: left for a person
        pairs.append((image_id, task_id))
    session.rollback()
    for image_id, task_id in record(session, project_id=project.id, pairs=pairs, result=result, adopted=True):
        client.delete_task(task_id)
        result.removed.append(image_id)


def receive_webhook(session: Session, *, project: Project, payload: dict[str, Any]) -> SyncResult:
    """An ANNOTATION_CREATED / ANNOTATION_UPDATED delivery: take its annotation (other actions and tasks depthal did
    not push are answered with an empty result, so Label Studio does not retry them)."""
    result = SyncResult()
    annotation, task = payload.get("annotation"), payload.get("task")
    if payload.get("action") not in ("ANNOTATION_CREATED", "ANNOTATION_UPDATED") or not isinstance(annotation, dict):
        return result
    task_id = annotation.get("task") if not isinstance(task, dict) else task.get("id")
    row = session.scalar(
        select(LabelStudioTask).where(LabelStudioTask.project_id == project.id, LabelStudioTask.task_id == task_id)
    )
    if row is None or row.status == LabelStudioTaskStatus.REMOVED:
        return result
    _, client = client_for(project)
    with client:
        take(session, project=project, row=row, annotation=annotation, email_of=client.user_email, result=result)
    return result


def after_round(session: Session, *, project_id: int) -> dict[str, Any] | None:
    """The round's queue stage has committed: sync a linked project so its new batch becomes tasks. Never fails the
    round: what happened (or why Label Studio could not be reached) is returned for the round's metrics, and the
    next sync catches up. None when the project is not linked."""
    project = session.get(Project, project_id)
    if project is None or (project.settings or {}).get("labelstudio") is None:
        return None
    try:
        done = sync(session, project=project)
    except ServiceError as err:
        session.rollback()
        return {"error": err.detail}
    return {
        "pushed": len(done.pushed),
        "labeled": len(done.labeled),
        "removed": len(done.removed),
        "refused": len(done.refused),
    }
