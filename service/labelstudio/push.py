"""Push depthal's queue to Label Studio: each queued image without a task becomes one, in depthal's rank order,
with the round's pre-label as a prediction and depthal's reason in the task data.

Task data: `image` (a signed URL on depthal, `GET /labelstudio/images/{id}`), `reason` (one line: round, strategy,
pick order and the scores behind it), and `depthal_image`, `depthal_round`, `depthal_rank` for people and for the
reconcile. The prediction's `model_version` is `round-<index>`; its `score` is the rank scaled to [0, 1) with the
first pick lowest, so Label Studio's uncertainty sampling (lowest score first) follows depthal's order as its
sequential sampling does.

Order of writes: the tasks are created in Label Studio first, then the holds and task rows are committed in one
transaction. An image leased by a depthal annotator meanwhile gets no hold; the reconcile deletes its task. A crash
between the two leaves tasks that the next sync adopts (their `depthal_image`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import masks, storage
from service.db.base import utcnow
from service.db.tables import Image, ImageState, LabelStudioTask, LabelStudioTaskStatus, Project, Round
from service.labelstudio import holds
from service.labelstudio.client import LabelStudioClient
from service.labelstudio.labels import prediction_results
from service.labelstudio.schemas import SyncResult
from service.labelstudio.signing import image_signature
from service.queue import selection_reason

BATCH = 50  # tasks per import request
ML_BACKEND_TITLE = "depthal"  # the title the link gives depthal's ML backend in Label Studio


def reason_text(session: Session, image: Image) -> str:
    reason = selection_reason(session, image)
    if reason is None:
        return "queued by hand (no round chose it)"
    parts = [f"round {reason.round_index}", reason.strategy]
    if reason.rank is not None:
        parts.append(f"pick {reason.rank + 1}")
    for name in ("distance", "difficulty", "entropy"):
        if (value := getattr(reason, name)) is not None:
            parts.append(f"{name} {value:.3g}")
    return "chosen by depthal: " + ", ".join(parts)


def task_for(
    session: Session, image: Image, *, public_url: str, score: float, classes: dict[int, str], round_index: int | None
) -> dict[str, Any]:
    url = f"{public_url}/labelstudio/images/{image.id}?sig={image_signature(image.id)}"
    data = {
        "image": url,
        "reason": reason_text(session, image),
        "depthal_image": image.id,
        "depthal_round": round_index,
        "depthal_rank": image.queue_rank,
    }
    task: dict[str, Any] = {"data": data}
    if image.prelabel_path is not None:
        ids = np.asarray(masks.open_png(storage.absolute(image.prelabel_path).read_bytes(), what="pre-label"))
        version = f"round-{round_index}" if round_index is not None else "depthal"
        task["predictions"] = [{"model_version": version, "score": score, "result": prediction_results(ids, classes)}]
    return task


def queued_without_task(session: Session, project_id: int) -> list[Image]:
    """Queued images with no task row, in rank order (`next`'s order). Images whose task was skipped in Label
    Studio keep their row and stay with depthal's own annotators."""
    tracked = select(LabelStudioTask.image_id).where(
        LabelStudioTask.project_id == project_id, LabelStudioTask.status != LabelStudioTaskStatus.REMOVED
    )
    return list(
        session.scalars(
            select(Image)
            .where(Image.project_id == project_id, Image.state == ImageState.QUEUED, Image.id.not_in(tracked))
            .order_by(Image.queue_rank.asc().nulls_last(), Image.id)
        )
    )


def push(
    session: Session,
    *,
    project: Project,
    client: LabelStudioClient,
    ls_project: int,
    public_url: str,
    result: SyncResult,
    live_model: bool = False,
) -> None:
    """Create tasks for the queued images without one (rank order), then hold them; commits. Then Label Studio's
    "model version" (the predictions its editor pre-fills) becomes the newest round pushed, or `depthal`, the ML
    backend's title, when it is linked (`live_model`: the backend answers every task with its newest pre-label)."""
    images = queued_without_task(session, project.id)
    if not images:
        return
    classes = {c.train_id: c.name for c in project.classes}
    rounds = dict(session.execute(select(Round.id, Round.index).where(Round.project_id == project.id)).all())
    for start in range(0, len(images), BATCH):
        batch = images[start : start + BATCH]
        tasks = [
            task_for(
                session,
                image,
                public_url=public_url,
                score=(start + k) / len(images),
                classes=classes,
                round_index=rounds.get(image.queued_round_id),
            )
            for k, image in enumerate(batch)
        ]
        session.rollback()  # no transaction open while Label Studio works
        task_ids = client.import_tasks(ls_project, tasks)
        pairs = list(zip([i.id for i in batch], task_ids, strict=True))
        for image_id, task_id in record(session, project_id=project.id, pairs=pairs, result=result, adopted=False):
            client.delete_task(task_id)  # leased in depthal while the tasks were created
            result.removed.append(image_id)
    pushed_rounds = [rounds[i.queued_round_id] for i in images if i.queued_round_id in rounds and i.prelabel_path]
    if live_model:
        client.set_model_version(ls_project, ML_BACKEND_TITLE)
    elif pushed_rounds:
        client.set_model_version(ls_project, f"round-{max(pushed_rounds)}")


def record(
    session: Session, *, project_id: int, pairs: list[tuple[int, int]], result: SyncResult, adopted: bool
) -> list[tuple[int, int]]:
    """Hold the images of new (image id, task id) pairs and write their rows; returns the pairs whose image could
    not be held (no longer queued), whose tasks the caller deletes. Commits."""
    now = utcnow()
    holder_id = holds.holder(session, project_id)
    orphans = []
    for image_id, task_id in pairs:
        lease_id = holds.hold(session, image_id=image_id, holder_id=holder_id, now=now)
        if lease_id is None:
            orphans.append((image_id, task_id))
            continue
        image_round = session.scalar(select(Image.queued_round_id).where(Image.id == image_id))
        row = session.scalar(select(LabelStudioTask).where(LabelStudioTask.image_id == image_id))
        if row is None:
            row = LabelStudioTask(project_id=project_id, image_id=image_id)
            session.add(row)
        row.task_id, row.round_id, row.lease_id = task_id, image_round, lease_id
        row.status, row.annotation_key = LabelStudioTaskStatus.OPEN, None
        (result.adopted if adopted else result.pushed).append(image_id)
    session.commit()
    return orphans
