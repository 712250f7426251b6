"""Pydantic request and response bodies, named by role: XCreate (in), XPublic (out), XsPublic(data, count)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.settings import ProjectSettings
from contracts.strategies import StrategyName
from service import storable
from service.db.tables import INT32_MAX, ImageRole, JobKind, ProjectRole, Role

# Integers a request stores or looks up, bounded by the columns' range (INT32_MAX: a 422, not a driver's 500).
RowIdIn = Annotated[int, Field(ge=1, le=INT32_MAX)]
PositiveCount = Annotated[int, Field(gt=0, le=INT32_MAX)]


class _ORM(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _RequestBody(BaseModel):
    """A JSON request body. Before any field is read, the whole body is searched for what parses but cannot be
    stored (NUL characters, lone surrogates, NaN / Infinity: service/storable.py), nested values included."""

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        if found := storable.problem(data, "body"):
            raise ValueError(found)
        return data


class Message(BaseModel):
    detail: str


class UserCreate(_RequestBody):
    name: str = Field(min_length=1, max_length=120)
    role: Role


class UserPublic(_ORM):
    id: int
    name: str
    role: Role
    is_active: bool


class MemberSet(_RequestBody):
    role: ProjectRole = Field(description="lead: everything in the project; annotator: lease and label; viewer: read")


class MemberPublic(BaseModel):
    user_id: int
    name: str
    role: ProjectRole
    created_at: datetime


class MembersPublic(BaseModel):
    data: list[MemberPublic]
    count: int


class UserActivation(UserPublic):
    released_leases: int = Field(description="open leases released by this deactivation (their images re-queued)")


class UserCreated(UserPublic):
    token: str = Field(description="The user's API token; shown only once")


class UsersPublic(BaseModel):
    data: list[UserPublic]
    count: int


class TokenPublic(_ORM):
    """An API token without its secret: `prefix` is `dal_` and 4 characters of the secret, enough to recognise it
    (service.security.shown_prefix)."""

    id: int
    user_id: int
    prefix: str
    revoked: bool
    created_at: datetime
    last_used_at: datetime | None = Field(description="approximate: updated at most once a minute")


class TokenCreated(TokenPublic):
    token: str = Field(description="The API token; shown only once")


class TokensPublic(BaseModel):
    data: list[TokenPublic]
    count: int


class LabelClassIn(BaseModel):
    train_id: int = Field(ge=0, lt=255)
    name: str = Field(min_length=1, max_length=64)
    color: tuple[int, int, int]

    @field_validator("color")
    @classmethod
    def _rgb(cls, value: tuple[int, int, int]) -> tuple[int, int, int]:
        if any(not 0 <= c <= 255 for c in value):
            raise ValueError("colour components must be 0..255")
        return value


class LabelClassPublic(_ORM):
    train_id: int
    name: str
    color: list[int]


class ProjectCreate(_RequestBody):
    name: str = Field(min_length=1, max_length=120)
    label_budget: int = Field(ge=0, le=INT32_MAX)
    round_schedule: list[int] = Field(default_factory=list, description="batch size of round 0, 1, ...")
    classes: list[LabelClassIn] | None = Field(default=None, description="default: Cityscapes' 19 classes")
    image_height: PositiveCount = 256
    image_width: PositiveCount = 512
    settings: ProjectSettings = Field(default_factory=ProjectSettings)

    @field_validator("round_schedule")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        return _round_schedule(value)

    @field_validator("classes")
    @classmethod
    def _unique(cls, value: list[LabelClassIn] | None) -> list[LabelClassIn] | None:
        if value is not None:
            if not value:
                raise ValueError("a project needs at least one class")
            for attr in ("train_id", "name"):
                seen = [getattr(c, attr) for c in value]
                if len(set(seen)) != len(seen):
                    raise ValueError(f"class {attr}s must be unique")
            colors = [c.color for c in value]
            if len(set(colors)) != len(colors):
                raise ValueError("class colours must be unique (palette masks are decoded by colour)")
        return value


def _round_schedule(value: list[int]) -> list[int]:
    if any(v <= 0 for v in value):
        raise ValueError("round batch sizes must be positive")
    if any(v > INT32_MAX for v in value):
        raise ValueError(f"round batch sizes must be at most {INT32_MAX}")
    return value


class ProjectUpdate(_RequestBody):
    """What a lead may change between rounds. `settings` is a JSON Merge Patch (RFC 7396) of the stored settings:
    a key replaces, `null` restores the default, `depth` / `seg` / `student` merge key by key; the result is
    validated as a whole (a 422 names the key)."""

    label_budget: int | None = Field(default=None, ge=0, le=INT32_MAX)
    round_schedule: list[int] | None = Field(default=None, description="batch size of round 0, 1, ...")
    settings: dict[str, Any] | None = Field(default=None, description="merge patch of the project's settings")

    @field_validator("round_schedule")
    @classmethod
    def _positive(cls, value: list[int] | None) -> list[int] | None:
        return None if value is None else _round_schedule(value)


class ProjectPublic(_ORM):
    id: int
    name: str
    label_budget: int
    round_schedule: list[int]
    image_height: int
    image_width: int
    settings: ProjectSettings = Field(description="every setting, the lead's choices with the defaults filled in")
    classes: list[LabelClassPublic]
    created_at: datetime


class ProjectsPublic(BaseModel):
    data: list[ProjectPublic]
    count: int


class FrameOptions(_RequestBody):
    """How a video (or frame folder) becomes depth-training frames and pool images (docs/data.md, "Video")."""

    frame_stride: int = Field(default=1, ge=1, le=1000, description="store every k-th frame (1: every frame); "
                              "the depth triplets t-1, t, t+1 are consecutive stored frames")  # fmt: skip
    pool_every: int = Field(default=30, ge=1, le=INT32_MAX, description="one pool image per this many source "
                            "frames, from the middle of each window (Cityscapes annotates 1 frame of 30)")  # fmt: skip
    pool_per_minute: float | None = Field(
        default=None, gt=0, le=100_000, description="instead of pool_every: pool images per minute of video"
    )
    hfov_deg: float | None = Field(default=None, gt=0, lt=180, description="horizontal field of view, degrees")
    focal_px: float | None = Field(default=None, gt=0, le=1e6, description="focal length in pixels of the video")
    max_width: int | None = Field(default=None, ge=16, le=16384, description="store frames at most this wide "
                                  "(downscaled; the intrinsics are scaled with them); default: as decoded")  # fmt: skip
    role: ImageRole = Field(default=ImageRole.POOL, description="role of the sampled images")

    @model_validator(mode="after")
    def _one_of_each(self) -> FrameOptions:
        if self.hfov_deg is not None and self.focal_px is not None:
            raise ValueError("give hfov_deg or focal_px, not both")
        if self.pool_per_minute is not None and "pool_every" in self.model_fields_set:
            raise ValueError("give pool_every or pool_per_minute, not both")
        return self


class ImageImport(_RequestBody):
    path: str = Field(description="folder under the server's import root (relative, or absolute inside it); for "
                      "the video layout also a single video file")  # fmt: skip
    layout: Literal["auto", "plain", "cityscapes", "video", "sequence", "kitti_raw", "cityscapes_sequence"] = Field(
        default="auto", description="video: every video file is one sequence; sequence: every folder of numbered "
        "frames is one; kitti_raw: every <date>/<drive>/image_02/data/ with calib_cam_to_cam.txt; "
        "cityscapes_sequence: every snippet of leftImg8bit_sequence/ (depth-training frames only, no pool images); "
        "these are imported by a job (202 with the job)")  # fmt: skip
    frames: FrameOptions = Field(default_factory=FrameOptions, description="the layouts a job imports")

    @model_validator(mode="after")
    def _frames_only_for_sequences(self) -> ImageImport:
        if self.layout in ("auto", "plain", "cityscapes") and self.frames != FrameOptions():
            raise ValueError(f"frames options apply to the video, sequence, kitti_raw and cityscapes_sequence "
                             f"layouts, not {self.layout}")  # fmt: skip
        return self

    role: ImageRole | None = Field(default=None, description="default: pool; Cityscapes val split → val")
    queue: bool = Field(default=False, description="queue the pool images at once, in name order (no model)")
    skip_duplicates: bool = Field(default=False, description="skip images already in the project instead of refusing")
    missing_camera: Literal["error", "cityscapes"] = Field(
        default="error", description="Cityscapes layout without camera/: refuse, or use Cityscapes' fixed intrinsics"
    )


class ImagePublic(_ORM):
    id: int
    project_id: int
    role: ImageRole
    name: str
    width: int
    height: int
    state: str
    queue_rank: float | None
    has_prev: bool
    has_next: bool
    has_prelabel: bool = Field(description="the round's model prediction: GET /images/{id}/prelabel")
    has_segments: bool = Field(description="superpixels for click-fill: GET /images/{id}/segments")
    intrinsics: dict[str, float] | None
    checksum: str
    skip_reason: str | None = Field(default=None, description="the annotator's reason, for a skipped image")


class ImagesPublic(BaseModel):
    data: list[ImagePublic]
    count: int


class RequeueSkipped(_RequestBody):
    image_ids: list[RowIdIn] | None = Field(
        default=None, min_length=1, max_length=10_000, description="default: every skipped image of the project"
    )


class SkipRequest(_RequestBody):
    reason: str | None = Field(default=None, max_length=500, description="why the image cannot be labeled")


class ImportResult(BaseModel):
    imported: int
    skipped_duplicates: int
    images: list[ImagePublic]
    job: JobPublic | None = Field(default=None, description="video and sequence imports: the import job (202)")
    warnings: list[str] = Field(default_factory=list, description="e.g. default intrinsics")


class SequencePublic(_ORM):
    """An imported video or frame folder: its frames train depth, `pool_images` of them joined the pool."""

    id: int
    job_id: int | None
    source: str
    name: str
    checksum: str
    frame_count: int
    frame_stride: int
    pool_every: int
    pool_images: int
    width: int
    height: int
    intrinsics: dict[str, float]
    intrinsics_source: str = Field(description="calibration, focal_px, hfov_deg or default")
    warning: str | None
    created_at: datetime


class SequencesPublic(BaseModel):
    data: list[SequencePublic]
    count: int


class LeasePublic(_ORM):
    id: int
    image_id: int
    annotator_id: int
    status: str
    issued_at: datetime
    expires_at: datetime
    heartbeat_at: datetime | None


class PrelabelLinks(BaseModel):
    """Where to fetch the model's prediction for a leased image."""

    class_ids_url: str = Field(description="single-channel PNG of class ids (255 = ignore), the image's size")
    overlay_url: str = Field(description="RGB PNG: the image blended with the predicted class colours")


class SelectionReason(BaseModel):
    """Why the round chose this image (its `score` row): pick order, feature distance to the nearest labeled or
    earlier chosen image, and the depth difficulty / segmentation entropy where the strategy computed them."""

    round_index: int
    strategy: str
    rank: int | None
    distance: float | None
    difficulty: float | None
    entropy: float | None
    combined: float | None


class LeaseWithImage(LeasePublic):
    image: ImagePublic
    has_prelabel: bool
    prelabel: PrelabelLinks | None = None
    reason: SelectionReason | None = None


class AnnotationPublic(_ORM):
    id: int
    image_id: int
    annotator_id: int | None
    lease_id: int | None
    version: int
    checksum: str
    created_at: datetime


class RoundCreate(_RequestBody):
    batch_size: PositiveCount | None = Field(default=None, description="default: the project's round schedule")
    strategy: StrategyName | None = Field(
        default=None, description="default: the project's settings.strategy (GET /strategies lists them)"
    )


class StrategyPublic(BaseModel):
    name: StrategyName
    description: str
    default: bool = Field(description="the strategy of a project that sets none")


class StrategiesPublic(BaseModel):
    data: list[StrategyPublic]
    count: int


class JobPublic(_ORM):
    id: int
    project_id: int
    round_id: int | None
    kind: JobKind
    status: str
    stage: str | None
    progress: float
    message: str | None
    error: str | None
    params: dict[str, Any]
    result: dict[str, Any]
    attempt: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobsPublic(BaseModel):
    data: list[JobPublic]
    count: int


class JobCreate(_RequestBody):
    kind: Literal[JobKind.VALIDATE_IMAGES] = JobKind.VALIDATE_IMAGES
    params: dict[str, Any] = Field(default_factory=dict)


class RoundPublic(_ORM):
    id: int
    project_id: int
    index: int
    status: str
    batch_size: int
    strategy: str
    model_version_id: int | None
    metrics: dict[str, Any]
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    jobs: list[JobPublic]


class RoundsPublic(BaseModel):
    data: list[RoundPublic]
    count: int


class AnnotatorProgress(BaseModel):
    user_id: int
    name: str
    labeled: int = Field(description="images whose newest mask is theirs")
    submissions: int = Field(description="mask versions they stored")
    open_leases: int
    expired_leases: int = Field(description="leases they let run out")


class StageProgress(BaseModel):
    """One job of a round (a stage: pretrain_depth, train, score shard, select, predict) and its timing."""

    job_id: int
    kind: str
    status: str
    stage: str | None = Field(description="the job's current sub-stage, e.g. depth_finetune, train, eval")
    progress: float
    message: str | None
    seconds: float | None = Field(description="run time so far (running) or in total (finished); None if not started")


class RoundProgress(BaseModel):
    index: int
    status: str
    batch_size: int
    metrics: dict[str, Any]
    strategy: str | None = None
    error: str | None = None
    seconds: float | None = Field(default=None, description="wall time of the round so far, or in total")
    stages: list[StageProgress] = Field(default_factory=list)


class ProgressPublic(BaseModel):
    budget_total: int
    labeled: int = Field(description="pool images labeled (count against the budget)")
    queued: int
    leased: int
    remaining: int = Field(description="budget not yet labeled, queued or leased")
    unlabeled: int
    skipped: int
    val_labeled: int
    val_total: int
    rounds: list[RoundProgress]
    annotators: list[AnnotatorProgress]
    sequences: int = Field(default=0, description="imported videos and frame folders")
    frames: int = Field(default=0, description="stored frames of those sequences: depth-training material")
    imports: list[SequencePublic] = Field(default_factory=list, description="each sequence, oldest first")
    importing: list[StageProgress] = Field(default_factory=list, description="import jobs queued or running")


class HealthPublic(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)
