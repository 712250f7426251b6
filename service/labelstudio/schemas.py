"""Request and response bodies of the Label Studio routes (docs/api.md, "Label Studio")."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from service.db.tables import INT32_MAX

LabelStudioId = Annotated[int, Field(ge=1, le=INT32_MAX)]


class LinkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2000, description="Label Studio's base URL, e.g. http://ls:8080")
    token: str = Field(min_length=1, max_length=2000, description="a Label Studio API token; stored, never shown")
    public_url: str = Field(
        min_length=1,
        max_length=2000,
        description="depthal's base URL as Label Studio and annotators' browsers reach it",
    )
    project: LabelStudioId | None = Field(
        default=None, description="an existing Label Studio project whose labels are the classes; default: create one"
    )
    webhook: bool = Field(default=True, description="register a webhook so annotations arrive without a sync")
    ml_backend: bool = Field(
        default=False, description="register depthal as the project's ML backend (newest pre-labels, Start training)"
    )


class LinkPublic(BaseModel):
    url: str
    project: int
    public_url: str
    webhook: int | None = Field(description="the webhook's id in Label Studio; null: labels come back by sync")
    webhook_error: str | None = Field(default=None, description="why Label Studio refused the webhook, if it did")
    ml_backend: int | None = Field(default=None, description="the ML backend's id in Label Studio, when registered")
    ml_backend_error: str | None = Field(default=None, description="why Label Studio refused the ML backend")


class Refusal(BaseModel):
    task: int
    image: int | None
    error: str


class SyncResult(BaseModel):
    """What a sync (or one webhook) did; `refused` names each annotation that was not stored and why."""

    pushed: list[int] = Field(default_factory=list, description="image ids pushed as new tasks, in rank order")
    labeled: list[int] = Field(default_factory=list, description="image ids whose annotation was stored as a version")
    unchanged: int = Field(default=0, description="annotations already stored (a duplicate delivery)")
    released: list[int] = Field(default_factory=list, description="image ids back in depthal's queue (skipped)")
    removed: list[int] = Field(
        default_factory=list, description="image ids whose task was deleted: not queued any more"
    )
    adopted: list[int] = Field(default_factory=list, description="image ids of tasks found in Label Studio untracked")
    refused: list[Refusal] = Field(default_factory=list)
