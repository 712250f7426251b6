"""Labels back: one Label Studio annotation of a pushed task → a stored mask version, or the image released.

The same path for a webhook and for a sync's poll. An annotation already taken (same id and `updated_at`: a
duplicate delivery, or a poll after its webhook) changes nothing. A stored mask goes through the validation and
versioning of `PUT /images/{id}/mask` (service/crud/annotations.py), attributed to the depthal user named like
the Label Studio annotator's e-mail (created as an annotator without a token when there is none yet); an updated
annotation is a new version. A cancelled (skipped) annotation releases the hold: the image returns to depthal's
queue and is not pushed again by later syncs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import masks
from service.crud.annotations import submit_mask
from service.db.tables import Image, LabelStudioTask, LabelStudioTaskStatus, Project, Role, User
from service.errors import Invalid, ServiceError
from service.labelstudio import holds
from service.labelstudio.labels import merge_regions
from service.labelstudio.schemas import Refusal, SyncResult

EmailOf = Callable[[int], str]  # Label Studio user id → e-mail (LabelStudioClient.user_email, cached)


def annotation_key(annotation: Mapping[str, Any]) -> str:
    return f"{annotation.get('id')}@{annotation.get('updated_at')}"[:80]


def newest(annotations: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The annotation a task's label comes from: the most recently updated one."""
    return max(annotations, key=lambda a: (str(a.get("updated_at") or ""), int(a.get("id") or 0)), default=None)


def take(
    session: Session,
    *,
    project: Project,
    row: LabelStudioTask,
    annotation: Mapping[str, Any],
    email_of: EmailOf,
    result: SyncResult,
) -> None:
    """Store or release per the annotation; adds what happened to `result`. Commits."""
    key = annotation_key(annotation)
    if row.annotation_key == key:
        result.unchanged += 1
        return
    if annotation.get("was_cancelled"):
        if row.status == LabelStudioTaskStatus.OPEN:
            holds.end(session, row.lease_id, labeled=False)
            row.status = LabelStudioTaskStatus.RELEASED
            result.released.append(row.image_id)
        row.annotation_key = key
        session.commit()
        return
    session.commit()  # no transaction (on SQLite: no write lock) while Label Studio is asked who annotated
    try:
        email = annotator_email(annotation, email_of)
        image = session.get(Image, row.image_id)
        assert image is not None
        classes = {c.name: c.train_id for c in project.classes}
        ids = merge_regions(annotation.get("result") or [], classes=classes, width=image.width, height=image.height)
        user = annotator(session, email)
        session.commit()  # the annotator's row, before submit_mask's own transactions
        _, created = submit_mask(
            session=session,
            image_id=row.image_id,
            user=user,
            data=masks.encode_png(ids),
            fmt=masks.MaskFormat.TRAIN_IDS,
            without_lease=True,
        )
    except ServiceError as err:
        session.rollback()
        result.refused.append(Refusal(task=row.task_id, image=row.image_id, error=err.detail))
        return
    row = session.get(LabelStudioTask, row.id)  # type: ignore[assignment]
    assert row is not None
    holds.end(session, row.lease_id, labeled=True)
    row.status = LabelStudioTaskStatus.LABELED
    row.annotation_key = key
    session.commit()
    if created:
        result.labeled.append(row.image_id)
    else:
        result.unchanged += 1


def annotator_email(annotation: Mapping[str, Any], email_of: EmailOf) -> str:
    """The annotator's e-mail: `completed_by` is a user id (Label Studio 1.x), or an object carrying the e-mail."""
    who = annotation.get("completed_by")
    if isinstance(who, dict) and isinstance(who.get("email"), str):
        return who["email"]
    if isinstance(who, int) or (isinstance(who, dict) and isinstance(who.get("id"), int)):
        return email_of(who if isinstance(who, int) else who["id"])
    raise Invalid(f"the annotation names no annotator (completed_by = {who!r})")


def annotator(session: Session, email: str) -> User:
    """The depthal user for a Label Studio annotator: the one named by the e-mail, else a new annotator (no token:
    it exists to carry the attribution; an admin may give it a token later). No commit."""
    if not email or len(email) > 120:
        raise Invalid(f"the Label Studio annotator's e-mail {email!r} cannot name a depthal user")
    user = session.scalar(select(User).where(User.name == email))
    if user is None:
        user = User(name=email, role=Role.ANNOTATOR.value, is_active=True)
        session.add(user)
        session.flush()
    return user
