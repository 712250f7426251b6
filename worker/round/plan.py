"""A round's plan stage, and the order of its stages (docs/rounds.md). No torch here.

A round is the plain list of stages `STAGE_ORDER`, each one job (scoring: one job per shard), each run once:

    plan             this stage: freezes the pool, creates the jobs below (the API creates only this one)
    pretrain_depth   only when the project has no depth model yet
    train            only when labels exist: segmentation model (+ the difficulty student), mIoU on val
    score × k        pool scoring, one job per shard of `score_shard_size` images (k > 1: a Celery chord)
    select           standardise features, choose the batch, write `score` rows
    predict          superpixels of the chosen images; their pre-labels when a segmentation model exists
    queue            queue the batch (with its pre-labels) and finish the round

`worker.round.advance` sends the next stage once every earlier one succeeded. The pool is frozen here in `pool.json`
under the round's storage folder, so the shards, the selection and a rerun after a crash all see the same images in
the same order.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from contracts.settings import ProjectSettings
from service import storage
from service.crud.annotations import newest_versions
from service.db.tables import (
    Annotation,
    Image,
    ImageRole,
    ImageState,
    Job,
    JobKind,
    JobStatus,
    ModelKind,
    ModelVersion,
    Project,
    Round,
)
from worker.runner import JobContext, PipelineError

log = logging.getLogger(__name__)

STAGE_ORDER = (
    JobKind.PLAN,
    JobKind.PRETRAIN_DEPTH,
    JobKind.TRAIN,
    JobKind.SCORE,
    JobKind.SELECT,
    JobKind.PREDICT,
    JobKind.QUEUE,
)


@dataclass(frozen=True)
class PoolSnapshot:
    """The round's images, frozen at planning: labeled pool (id, mask path), pending pool ids (queued or leased by an
    earlier round, not labeled yet), unlabeled pool ids, labeled val.

    The scored pool is labeled + pending + unlabeled in that order. Pending images are selection centres like
    labeled ones (they will be labeled: a new batch should not sit next to them) but are not candidates, and they
    train only as unlabeled images."""

    labeled: list[tuple[int, str]]
    pending: list[int]
    unlabeled: list[int]
    val: list[tuple[int, str]]

    @property
    def pool_ids(self) -> list[int]:
        return [i for i, _ in self.labeled] + self.pending + self.unlabeled

    @property
    def n_centres(self) -> int:
        return len(self.labeled) + len(self.pending)

    def to_json(self) -> str:
        return json.dumps({"labeled": self.labeled, "pending": self.pending, "unlabeled": self.unlabeled,
                           "val": self.val})  # fmt: skip

    @classmethod
    def load(cls, project_id: int, round_index: int) -> PoolSnapshot:
        data = json.loads(storage.absolute(storage.round_dir(project_id, round_index) / "pool.json").read_text())
        return cls([tuple(x) for x in data["labeled"]], list(data.get("pending", [])), list(data["unlabeled"]),
                   [tuple(x) for x in data["val"]])  # fmt: skip


def _labeled_masks(session: Session, project_id: int, role: ImageRole) -> list[tuple[int, str]]:
    """(image id, newest mask path) of the project's labeled images of one role, by image id."""
    newest = newest_versions(project_id)
    rows = session.execute(
        select(Image.id, Annotation.mask_path)
        .join(newest, newest.c.image_id == Image.id)
        .join(Annotation, (Annotation.image_id == newest.c.image_id) & (Annotation.version == newest.c.version))
        .where(Image.project_id == project_id, Image.role == role, Image.state == ImageState.LABELED)
        .order_by(Image.id)
    ).all()
    return [(int(i), str(p)) for i, p in rows]


def _pool_ids(session: Session, project_id: int, *states: ImageState) -> list[int]:
    return list(session.scalars(
        select(Image.id)
        .where(Image.project_id == project_id, Image.role == ImageRole.POOL, Image.state.in_(states))
        .order_by(Image.id)
    ))  # fmt: skip


def snapshot(session: Session, project_id: int) -> PoolSnapshot:
    return PoolSnapshot(
        _labeled_masks(session, project_id, ImageRole.POOL),
        _pool_ids(session, project_id, ImageState.QUEUED, ImageState.LEASED),
        _pool_ids(session, project_id, ImageState.UNLABELED),
        _labeled_masks(session, project_id, ImageRole.VAL),
    )


def latest_model(session: Session, project_id: int, kind: ModelKind) -> ModelVersion | None:
    return session.scalars(
        select(ModelVersion)
        .where(ModelVersion.project_id == project_id, ModelVersion.kind == kind)
        .order_by(ModelVersion.id.desc())
        .limit(1)
    ).first()


def run(ctx: JobContext) -> dict[str, Any]:
    """The plan stage: freeze the pool and create the round's stage jobs, in one transaction with the job's success.

    Refuses with a `PipelineError`, changing nothing, when the round asks for more images than the pool has."""
    if ctx.round_id is None:
        raise PipelineError(f"job {ctx.job_id} belongs to no round")
    with ctx.finishing() as session:
        round_ = session.get(Round, ctx.round_id, with_for_update=True)
        assert round_ is not None
        project = session.get(Project, round_.project_id)
        assert project is not None
        snap = snapshot(session, project.id)
        if len(snap.unlabeled) < round_.batch_size:
            raise PipelineError(
                f"round {round_.index} needs {round_.batch_size} unlabeled pool images, but the project has only "
                f"{len(snap.unlabeled)}"
            )
        shard = ProjectSettings.model_validate(project.settings or {}).score_shard_size
        folder = storage.absolute(storage.round_dir(project.id, round_.index))
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "pool.json").write_text(snap.to_json())

        def add(kind: JobKind, **params: Any) -> None:
            session.add(Job(project_id=project.id, round_id=round_.id, kind=kind, status=JobStatus.QUEUED,
                            params=params))  # fmt: skip

        if latest_model(session, project.id, ModelKind.DEPTH) is None:
            add(JobKind.PRETRAIN_DEPTH)
        if snap.labeled:
            add(JobKind.TRAIN, labels=len(snap.labeled))
        n = len(snap.pool_ids)
        starts = list(range(0, n, shard))
        for k, start in enumerate(starts):
            add(JobKind.SCORE, shard=k, shards=len(starts), start=start, end=min(start + shard, n))
        add(JobKind.SELECT)
        add(JobKind.PREDICT)
        add(JobKind.QUEUE)
        ctx.result = {"labeled": len(snap.labeled), "pending": len(snap.pending), "unlabeled": len(snap.unlabeled),
                      "val": len(snap.val), "score_shards": len(starts)}  # fmt: skip
    return ctx.result


def stage_jobs(session: Session, round_id: int) -> list[Job]:
    """The round's jobs in stage order (shards by id)."""
    jobs = session.scalars(select(Job).where(Job.round_id == round_id).order_by(Job.id)).all()
    return sorted(jobs, key=lambda j: (STAGE_ORDER.index(JobKind(j.kind)), j.id))
