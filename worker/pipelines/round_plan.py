"""Planning and sequencing of a model-driven round (design.md "The active-learning round"). No torch here.

A round's work is split into job rows, created when its select job first runs (`plan`):

    pretrain_depth   only when the project has no depth model yet
    train            only when labels exist: segmentation student (+ the difficulty student), mIoU on val
    score × k        pool scoring, one job per shard of `score_shard_size` images (k > 1: a Celery group + chord)
    select           the job the API created: standardise features, choose the batch, write `score` rows
    predict          only when a segmentation model exists: pre-labels; then queues the batch

`advance(round_id)` sends the next stage whose jobs are queued, once all earlier stages succeeded. Every stage task
calls it after its job finished, the chord calls it after the last shard, and the worker's sweeper calls it for a
round that went quiet (a worker died between a commit and the send). Sending a job twice is harmless: the runner
starts a job only once. The pool is frozen at planning time in `pool.json` under the round's storage folder, so the
shards, the selection and a rerun after a crash all see the same images in the same order.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service import storage
from service.crud.annotations import newest_versions
from service.db.session import session_scope
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
    RoundStatus,
)
from worker.runner import PipelineError

log = logging.getLogger(__name__)

STAGE_ORDER = [JobKind.PRETRAIN_DEPTH, JobKind.TRAIN, JobKind.SCORE, JobKind.SELECT, JobKind.PREDICT]
DEFAULT_SHARD_SIZE = 50_000  # pool images per scoring job; a project's `score_shard_size` setting overrides it


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


def is_planned(session: Session, round_id: int) -> bool:
    where = (Job.round_id == round_id, Job.kind == JobKind.SCORE)
    return (session.scalar(select(func.count()).select_from(Job).where(*where)) or 0) > 0


def plan(round_id: int) -> PoolSnapshot:
    """Freeze the pool and create the round's stage jobs (idempotent: a planned round is left as it is).

    Refuses with a `PipelineError`, changing nothing, when the round asks for more images than the pool has."""
    with session_scope() as session:
        round_ = session.get(Round, round_id, with_for_update=True)
        assert round_ is not None
        project = session.get(Project, round_.project_id)
        assert project is not None
        if is_planned(session, round_id):
            return PoolSnapshot.load(project.id, round_.index)
        snap = snapshot(session, project.id)
        if round_.batch_size < 1:
            raise PipelineError(
                f"round {round_.index} asks for {round_.batch_size} images; the batch size must be at least 1"
            )
        if len(snap.unlabeled) < round_.batch_size:
            raise PipelineError(
                f"round {round_.index} needs {round_.batch_size} unlabeled pool images, but the project has only "
                f"{len(snap.unlabeled)}"
            )
        settings = project.settings or {}
        shard = int(settings.get("score_shard_size", DEFAULT_SHARD_SIZE))
        if shard < 1:
            raise PipelineError(f"score_shard_size must be at least 1, got {shard}")
        folder = storage.absolute(storage.round_dir(project.id, round_.index))
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "pool.json").write_text(snap.to_json())

        def add(kind: JobKind, **params: Any) -> None:
            job = Job(project_id=project.id, round_id=round_id, kind=kind, status=JobStatus.QUEUED, params=params)
            session.add(job)

        if latest_model(session, project.id, ModelKind.DEPTH) is None:
            add(JobKind.PRETRAIN_DEPTH)
        if snap.labeled:
            add(JobKind.TRAIN, labels=len(snap.labeled))
        n = len(snap.pool_ids)
        starts = list(range(0, n, shard))
        for k, start in enumerate(starts):
            add(JobKind.SCORE, shard=k, shards=len(starts), start=start, end=min(start + shard, n))
        if snap.labeled:
            add(JobKind.PREDICT)
        return snap


def stage_jobs(session: Session, round_id: int) -> list[Job]:
    jobs = session.scalars(select(Job).where(Job.round_id == round_id).order_by(Job.id)).all()
    return sorted(jobs, key=lambda j: (STAGE_ORDER.index(JobKind(j.kind)), j.id))


def next_to_send(round_id: int) -> list[tuple[int, str]]:
    """(job id, kind) of the queued jobs of the first stage that has not succeeded, when every earlier stage has;
    [] when the round is finished, failed, or waiting for a running job."""
    with session_scope() as session:
        round_ = session.get(Round, round_id)
        if round_ is None or round_.status not in (RoundStatus.PENDING, RoundStatus.RUNNING):
            return []
        if not is_planned(session, round_id):
            return []
        jobs = stage_jobs(session, round_id)
        for kind in STAGE_ORDER:
            group = [j for j in jobs if j.kind == kind]
            if all(j.status == JobStatus.SUCCEEDED for j in group):
                continue
            if any(j.status in (JobStatus.FAILED, JobStatus.CANCELLED) for j in group):
                return []
            return [(j.id, j.kind) for j in group if j.status == JobStatus.QUEUED]
        return []
