"""The tables of design.md's data model. ORM classes are named after the thing they hold (never "models":
`models/` is the neural-network package).

States are plain strings checked by CHECK constraints; the allowed values live in the StrEnums below.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.db.base import Base, CreatedMixin, UTCDateTime

# `Integer` columns (ids included) are 32-bit on PostgreSQL. Requests bound every integer they carry by this, so a
# bigger number is refused with a 422 naming the field instead of failing in the driver as a 500.
INT32_MAX = 2**31 - 1


class Role(StrEnum):
    ADMIN = "admin"
    LEAD = "lead"
    ANNOTATOR = "annotator"


class ProjectRole(StrEnum):
    """A user's role in one project (service/crud/members.py); admins have every role in every project."""

    LEAD = "lead"
    ANNOTATOR = "annotator"
    VIEWER = "viewer"


class ImageRole(StrEnum):
    POOL = "pool"
    VAL = "val"


class ImageState(StrEnum):
    UNLABELED = "unlabeled"
    QUEUED = "queued"
    LEASED = "leased"
    LABELED = "labeled"
    SKIPPED = "skipped"


class LeaseStatus(StrEnum):
    OPEN = "open"
    SUBMITTED = "submitted"
    EXPIRED = "expired"
    RELEASED = "released"


class RoundStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobKind(StrEnum):
    """A round's stages in the order they run (docs/rounds.md), then the standalone jobs."""

    PLAN = "plan"  # freezes the pool and creates the round's other jobs
    PRETRAIN_DEPTH = "pretrain_depth"
    TRAIN = "train"
    SCORE = "score"
    SELECT = "select"
    PREDICT = "predict"
    QUEUE = "queue"  # the only stage that touches the queue
    VALIDATE_IMAGES = "validate_images"  # cheap job: checks files and writes thumbnails
    IMPORT_FRAMES = "import_frames"  # a video or frame folder: decode, store every frame, add the pool sample


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class SequenceSource(StrEnum):
    VIDEO = "video"
    FRAMES = "frames"  # a folder of numbered frames (`sequence` layout)
    KITTI_RAW = "kitti_raw"
    CITYSCAPES = "cityscapes"  # a snippet of leftImg8bit_sequence/: depth-training frames, no pool images


class ModelKind(StrEnum):
    DEPTH = "depth"
    SEGMENTATION = "segmentation"


def _check_in(column: str, enum: type[StrEnum]) -> CheckConstraint:
    values = ", ".join(f"'{v.value}'" for v in enum)
    return CheckConstraint(f"{column} IN ({values})", name=f"{column}_valid")


class User(CreatedMixin, Base):
    __tablename__ = "user"
    __table_args__ = (_check_in("role", Role),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")


class ApiToken(CreatedMixin, Base):
    """An API token, stored only as a salted SHA-256 hash; `prefix` lets people tell tokens apart."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="tokens")


class Membership(CreatedMixin, Base):
    """A user's role in a project: what they may do there. Someone with no row sees no such project (404)."""

    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("project_id", "user_id"), _check_in("role", ProjectRole))

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))


class Project(CreatedMixin, Base):
    __tablename__ = "project"
    __table_args__ = (CheckConstraint("label_budget >= 0", name="budget_nonnegative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    label_budget: Mapped[int] = mapped_column(Integer)
    round_schedule: Mapped[list[int]] = mapped_column(JSON, default=list)  # batch size of round 0, 1, ...
    image_height: Mapped[int] = mapped_column(Integer, default=256)  # training size
    image_width: Mapped[int] = mapped_column(Integer, default=512)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # strategy, depthmix, iterations, ...

    members: Mapped[list[Membership]] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    classes: Mapped[list[LabelClass]] = relationship(
        back_populates="project", order_by="LabelClass.train_id", cascade="all, delete-orphan"
    )


class LabelClass(Base):
    __tablename__ = "label_class"
    __table_args__ = (
        UniqueConstraint("project_id", "train_id"),
        CheckConstraint("train_id >= 0 AND train_id < 255", name="train_id_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    train_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    color: Mapped[list[int]] = mapped_column(JSON)  # [r, g, b]

    project: Mapped[Project] = relationship(back_populates="classes")


class Image(CreatedMixin, Base):
    """A pool or validation image. Paths are relative to the storage directory; neighbour frames (t-1, t+1) are
    present when the image is part of a sequence (needed for self-supervised depth)."""

    __tablename__ = "image"
    __table_args__ = (
        UniqueConstraint("project_id", "checksum"),
        _check_in("role", ImageRole),
        _check_in("state", ImageState),
        Index("ix_image_queue", "project_id", "state", "queue_rank", "id"),  # the order `next` reads, id breaking ties
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # no index of its own: ix_image_queue and the (project_id, checksum) constraint both lead with it, and a third
    # index on it alone tempted PostgreSQL, before a bulk import was analysed, to sort the queue for `next`
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(8), default=ImageRole.POOL)
    name: Mapped[str] = mapped_column(String(255))  # original file name, for people
    path: Mapped[str] = mapped_column(String(1024))
    prev_path: Mapped[str | None] = mapped_column(String(1024))
    next_path: Mapped[str | None] = mapped_column(String(1024))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    intrinsics: Mapped[dict[str, float] | None] = mapped_column(JSON)  # fx, fy, u0, v0 in pixels of this image
    checksum: Mapped[str] = mapped_column(String(64))  # sha256 of the file: duplicate detection
    state: Mapped[str] = mapped_column(String(12), default=ImageState.UNLABELED)
    queue_rank: Mapped[float | None] = mapped_column(Float)  # lower = served first
    queued_round_id: Mapped[int | None] = mapped_column(ForeignKey("round.id", ondelete="SET NULL"))
    prelabel_path: Mapped[str | None] = mapped_column(String(1024))  # model prediction shown with `next`
    skip_reason: Mapped[str | None] = mapped_column(String(500))  # why an annotator skipped it
    segments_path: Mapped[str | None] = mapped_column(String(1024))  # superpixels of a queued image (web app)
    # the imported video or frame folder this image was sampled from (its neighbours are frames of it)
    sequence_id: Mapped[int | None] = mapped_column(ForeignKey("frame_sequence.id", ondelete="SET NULL"), index=True)

    @property
    def has_prev(self) -> bool:
        return self.prev_path is not None

    @property
    def has_next(self) -> bool:
        return self.next_path is not None

    @property
    def has_prelabel(self) -> bool:
        return self.prelabel_path is not None

    @property
    def has_segments(self) -> bool:
        return self.segments_path is not None


class FrameSequence(CreatedMixin, Base):
    """One imported video (or frame folder): every stored frame is depth-training material, a sample of them are
    pool images. Frames are `frames_dir/000000.jpg, ...` (models/data/frame_store.py); written by the import job's
    final commit together with its pool images, so an import is all or nothing."""

    __tablename__ = "frame_sequence"
    __table_args__ = (UniqueConstraint("project_id", "checksum"), _check_in("source", SequenceSource))

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id", ondelete="SET NULL"))  # the import job
    source: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(255))  # the file or folder name, for people
    checksum: Mapped[str] = mapped_column(String(64))  # sha256 of the video file (of the frame files for a folder)
    frames_dir: Mapped[str] = mapped_column(String(1024))
    frame_count: Mapped[int] = mapped_column(Integer)  # frames stored (after the stride)
    frame_stride: Mapped[int] = mapped_column(Integer)
    pool_every: Mapped[int] = mapped_column(Integer)
    pool_images: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)  # of the stored frames
    height: Mapped[int] = mapped_column(Integer)
    intrinsics: Mapped[dict[str, float]] = mapped_column(JSON)  # fx, fy, u0, v0 in pixels of the stored frames
    intrinsics_source: Mapped[str] = mapped_column(String(16))  # calibration | focal_px | hfov_deg | default
    warning: Mapped[str | None] = mapped_column(Text)


class Lease(CreatedMixin, Base):
    """An annotator's hold on an image. At most one open lease per image, enforced by a partial unique index."""

    __tablename__ = "lease"
    __table_args__ = (
        _check_in("status", LeaseStatus),
        Index(
            "uq_lease_open_image",
            "image_id",
            unique=True,
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
        Index("ix_lease_annotator_status", "annotator_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), index=True)
    annotator_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(12), default=LeaseStatus.OPEN)


class Annotation(CreatedMixin, Base):
    """One version of an image's mask; the highest version is the label. Never updated in place."""

    __tablename__ = "annotation"
    __table_args__ = (UniqueConstraint("image_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), index=True)
    annotator_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    lease_id: Mapped[int | None] = mapped_column(ForeignKey("lease.id", ondelete="SET NULL"))
    version: Mapped[int] = mapped_column(Integer)
    mask_path: Mapped[str] = mapped_column(String(1024))  # single-channel PNG of train ids, 255 = ignore
    checksum: Mapped[str] = mapped_column(String(64))  # sha256 of the stored mask: idempotent retries


class Round(CreatedMixin, Base):
    __tablename__ = "round"
    __table_args__ = (UniqueConstraint("project_id", "index"), _check_in("status", RoundStatus))

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default=RoundStatus.PENDING)
    batch_size: Mapped[int] = mapped_column(Integer)
    strategy: Mapped[str] = mapped_column(String(32))
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_version.id", ondelete="SET NULL"))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # miou, per-class IoU, labels used
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    jobs: Mapped[list[Job]] = relationship(back_populates="round", order_by="Job.id")


class Job(CreatedMixin, Base):
    """A unit of worker work. The worker writes status, stage and progress here; the API only reads it."""

    __tablename__ = "job"
    __table_args__ = (
        _check_in("kind", JobKind),
        _check_in("status", JobStatus),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    round_id: Mapped[int | None] = mapped_column(ForeignKey("round.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12), default=JobStatus.QUEUED)
    stage: Mapped[str | None] = mapped_column(String(64))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    celery_task_id: Mapped[str | None] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    round: Mapped[Round | None] = relationship(back_populates="jobs")


class ModelVersion(CreatedMixin, Base):
    __tablename__ = "model_version"
    __table_args__ = (_check_in("kind", ModelKind),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    checkpoint_path: Mapped[str] = mapped_column(String(1024))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    round_id: Mapped[int | None] = mapped_column(ForeignKey("round.id", ondelete="SET NULL", use_alter=True))


class Score(Base):
    """Per-image selection scores of one round. Diversity features themselves live in storage (one array per
    round), not here."""

    __tablename__ = "score"
    __table_args__ = (UniqueConstraint("round_id", "image_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("round.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), index=True)
    diversity: Mapped[float | None] = mapped_column(Float)  # distance to the labeled set in feature space
    difficulty: Mapped[float | None] = mapped_column(Float)  # student-vs-teacher depth error
    entropy: Mapped[float | None] = mapped_column(Float)
    combined: Mapped[float | None] = mapped_column(Float)
    rank: Mapped[int | None] = mapped_column(Integer)  # pick order; None when not picked


class LabelStudioTaskStatus(StrEnum):
    OPEN = "open"  # the task is in Label Studio and its image is held (leased) for it in depthal
    LABELED = "labeled"  # an annotation came back and was stored; later updates store new versions
    RELEASED = "released"  # skipped or cancelled in Label Studio: the image went back to depthal's queue
    REMOVED = "removed"  # a sync deleted the task: depthal no longer queues its image


class LabelStudioTask(CreatedMixin, Base):
    """A depthal image pushed to the linked Label Studio project as a task (docs/labelstudio.md)."""

    __tablename__ = "labelstudio_task"
    __table_args__ = (
        UniqueConstraint("project_id", "task_id"),
        _check_in("status", LabelStudioTaskStatus),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), unique=True)
    task_id: Mapped[int] = mapped_column(Integer)  # Label Studio's task id
    round_id: Mapped[int | None] = mapped_column(ForeignKey("round.id", ondelete="SET NULL"))
    lease_id: Mapped[int | None] = mapped_column(ForeignKey("lease.id", ondelete="SET NULL"))  # the hold
    status: Mapped[str] = mapped_column(String(12), default=LabelStudioTaskStatus.OPEN)
    # "<annotation id>@<updated_at>" of the last annotation taken: a webhook delivered twice, or polled after its
    # webhook arrived, is recognised without decoding it again
    annotation_key: Mapped[str | None] = mapped_column(String(80))
