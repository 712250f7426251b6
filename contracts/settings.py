"""A project's method settings: the one place where each setting's type, bounds and default live.

The API validates `POST /projects` and `PATCH /projects/{id}` against `ProjectSettings` (a bad value is a 422 that
names the key), stores what the lead set (`stored`), and the worker turns it into the models' configuration in one
function (`models.rounds.config.RoundConfig.from_settings`). Presets size a round ("tiny": CI, "small": the CPU demo,
"method": the method's networks and schedules, for a GPU); `depth`, `seg` and `student` override single fields of the
preset's configuration (`models.depth_model.DepthConfig`, `models.seg_train.SegTrainConfig`,
`models.difficulty.StudentConfig`), and a field left out keeps the preset's value. A test ties each override model
to its configuration's fields (tests/models/test_round_config.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    field_serializer,
    model_serializer,
)

from contracts.strategies import DEFAULT_STRATEGY, StrategyName

Preset = Literal["tiny", "small", "method"]
Device = Literal["auto", "cpu", "cuda"]  # "auto": CUDA when the worker has it; "cuda": GPU only (an error without)
SegVariant = Literal["transfer", "multitask", "scratch"]  # method exp 210, exp 212, and the no-transfer baseline
MixName = Literal["none", "classmix", "depthmix"]  # how the mean teacher mixes unlabeled pairs (method.md §3.3)
ResNetDepth = Literal[18, 50, 101]
# Encoder initialisation a project may ask for. A file path is an operator's choice (a checkpoint is code: pickle),
# so it is not a project setting.
EncoderInit = Literal["imagenet"] | None

SEED_MAX = 2**31 - 1  # numpy's RandomState takes 32-bit seeds; the columns are 32-bit too
DIFFICULTY_WEIGHT = 1000.0  # λ of the method's "bias1000ldepth" (method.md §4.1, §4.3)
DEFAULT_SHARD_SIZE = 50_000  # pool images per scoring job (one job per shard; several run on several workers)

PositiveInt = Annotated[int, Field(ge=1, le=SEED_MAX)]
Count = Annotated[int, Field(ge=0, le=SEED_MAX)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
Widths = tuple[PositiveInt, PositiveInt, PositiveInt, PositiveInt, PositiveInt]  # decoder widths, one per stage
Workers = Annotated[int, Field(ge=0, le=64)]


class Overrides(BaseModel):
    """Fields of one model configuration; a field the lead did not set is left out (the preset's value holds).

    Serialised with only the fields that were set, so a stored or shown override says what the lead chose."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_serializer(mode="wrap")
    def _only_set(self, handler: SerializerFunctionWrapHandler, _info: SerializationInfo) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if k in self.model_fields_set}

    def values(self) -> dict[str, Any]:
        """The fields that were set: the overrides to apply to the preset's configuration."""
        return {k: getattr(self, k) for k in self.model_fields_set}


class DepthOverrides(Overrides):
    """`models.depth_model.DepthConfig`: self-supervised depth pretraining (method.md §2)."""

    layers: ResNetDepth | None = None
    dilate_last: bool | None = None
    weights: EncoderInit = None
    pose_weights: EncoderInit = None
    num_ch_dec: Widths | None = None
    aspp: bool | None = None
    batch_norm: bool | None = None
    scales: tuple[Literal[0, 1, 2, 3], ...] | None = Field(default=None, min_length=1, max_length=4)
    min_depth: PositiveFloat | None = None
    max_depth: PositiveFloat | None = None
    smoothness: NonNegativeFloat | None = None
    feature_distance: NonNegativeFloat | None = None
    batch_size: PositiveInt | None = None
    frozen_iters: Count | None = None
    lr: PositiveFloat | None = None
    lr_step: PositiveInt | None = None
    finetune_iters: Count | None = None
    finetune_lr: PositiveFloat | None = None
    amp: bool | None = None
    channels_last: bool | None = None
    num_workers: Workers | None = None
    seed: Annotated[int, Field(ge=0, le=SEED_MAX)] | None = None
    checkpoint_every: PositiveInt | None = None
    log_every: PositiveInt | None = None


class SegOverrides(Overrides):
    """`models.seg_train.SegTrainConfig`: semi-supervised segmentation (method.md §3), plus the network variant."""

    variant: SegVariant | None = None
    iterations: PositiveInt | None = None
    batch_size: PositiveInt | None = None
    unlabeled_batch_size: PositiveInt | None = None
    lr: PositiveFloat | None = None
    encoder_lr: NonNegativeFloat | None = None
    momentum: Annotated[float, Field(ge=0, lt=1)] | None = None
    weight_decay: NonNegativeFloat | None = None
    lr_step_at: Fraction | None = None
    lr_gamma: Fraction | None = None
    grad_clip: PositiveFloat | None = None
    mean_teacher: bool | None = None
    mix: MixName | None = None
    depthmix_margin: NonNegativeFloat | None = None
    confidence_threshold: Annotated[float, Field(ge=0, le=1)] | None = None
    consistency_weight: NonNegativeFloat | None = None
    strong_aug: bool | None = None
    online_depth: bool | None = None
    teacher_train_mode: bool | None = None
    monodepth_weight: NonNegativeFloat | None = None
    amp: bool | None = None
    encoder_weights: EncoderInit = None
    eval_every: Count | None = None
    checkpoint_every: PositiveInt | None = None
    num_workers: Workers | None = None
    seed: Annotated[int, Field(ge=0, le=SEED_MAX)] | None = None


class StudentOverrides(Overrides):
    """`models.difficulty.StudentConfig`: the difficulty student (method.md §4.2)."""

    layers: ResNetDepth | None = None
    weights: EncoderInit = None
    dilate_last: bool | None = None
    num_ch_dec: Widths | None = None
    batch_norm: bool | None = None
    aspp: bool | None = None
    iters: PositiveInt | None = None
    lr: PositiveFloat | None = None
    batch_size: PositiveInt | None = None
    crop: tuple[PositiveInt, PositiveInt] | None = None
    flip: bool | None = None
    grad_clip: PositiveFloat | None = None
    amp: bool | None = None
    seed: Annotated[int, Field(ge=0, le=SEED_MAX)] | None = None


REVEAL_SECRETS = {"reveal_secrets": True}  # serialisation context of `stored()`: the database keeps the token


class LabelStudioLink(BaseModel):
    """The Label Studio project a depthal project is linked to (docs/labelstudio.md). Set only by the link
    (`POST /projects/{id}/labelstudio/link`, `depthal labelstudio link`), which checks it against the server first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="Label Studio's base URL, as depthal's API and worker reach it")
    project: Annotated[int, Field(ge=1, le=SEED_MAX)] = Field(description="the Label Studio project's id")
    token: SecretStr = Field(description="Label Studio API token (legacy or personal access token); never shown")
    public_url: str = Field(description="depthal's base URL as annotators' browsers and Label Studio reach it")
    webhook: Annotated[int, Field(ge=1, le=SEED_MAX)] | None = Field(
        default=None, description="id of the webhook depthal registered in Label Studio, if any"
    )
    ml_backend: Annotated[int, Field(ge=1, le=SEED_MAX)] | None = Field(
        default=None, description="id of depthal's ML backend in the Label Studio project, if registered"
    )

    @field_serializer("token")
    def _token(self, token: SecretStr, info: SerializationInfo) -> str:
        return token.get_secret_value() if info.context == REVEAL_SECRETS else "**********"


class ProjectSettings(BaseModel):
    """How a project's rounds select and train. Every key is optional in a request; its default is shown here."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: StrategyName = Field(
        default=DEFAULT_STRATEGY, description="the selection strategy of a round that names none (GET /strategies)"
    )
    preset: Preset = Field(default="small", description="model sizes and schedules: tiny (CI), small (CPU), method")
    seed: Annotated[int, Field(ge=0, le=SEED_MAX)] = Field(
        default=0, description="seeds training, the cold-start image and random selection (plus the round index)"
    )
    device: Device = "auto"
    depth: DepthOverrides = Field(default_factory=DepthOverrides, description="overrides of the preset's depth model")
    seg: SegOverrides = Field(default_factory=SegOverrides, description="overrides of the preset's segmentation")
    student: StudentOverrides = Field(default_factory=StudentOverrides, description="overrides of the preset's student")
    score_batch_size: PositiveInt = Field(default=4, description="images per batch when scoring and pre-labelling")
    score_shard_size: PositiveInt = Field(default=DEFAULT_SHARD_SIZE, description="pool images per scoring job")
    min_labeled: PositiveInt = Field(default=2, description="fewest labeled images a training round accepts")
    difficulty_weight: NonNegativeFloat = Field(
        default=DIFFICULTY_WEIGHT,
        description="λ of diversity+difficulty: score = feature distance + λ·difficulty (docs/selection.md)",
    )
    labelstudio: LabelStudioLink | None = Field(
        default=None, description="the linked Label Studio project (set by the link route, token never shown)"
    )

    def stored(self) -> dict[str, Any]:
        """What the database keeps: the keys the lead set, so a preset or default changed later still applies."""
        return self.model_dump(mode="json", exclude_unset=True, context=REVEAL_SECRETS)


def merge_patch(stored: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """JSON Merge Patch (RFC 7396) of stored settings: a key in `patch` replaces the stored one, `null` removes it
    (back to its default), and objects (`depth`, `seg`, `student`) merge key by key."""
    out = dict(stored)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict):
            current = out.get(key)
            out[key] = merge_patch(current if isinstance(current, dict) else {}, value)
        else:
            out[key] = value
    return out
