"""The selection strategies a round may use (`POST /projects/{id}/rounds {"strategy"}`), for clients to offer."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from service.api.deps import CurrentUser
from service.crud.rounds import MODEL_STRATEGIES

router = APIRouter(tags=["rounds"])

# One line each, for people choosing one (docs/selection.md has the method).
DESCRIPTIONS = {
    "random": "uniformly random images: the baseline",
    "entropy": "images the segmentation model is least sure about (mean softmax entropy)",
    "diversity": "farthest-point selection in depth-feature space: images unlike those already labeled",
    "difficulty": "images whose depth a student trained on the labels reproduces worst",
    "diversity+difficulty": "the method: farthest points in depth-feature space, biased towards difficult images",
}


class StrategyPublic(BaseModel):
    name: str
    description: str


class StrategiesPublic(BaseModel):
    data: list[StrategyPublic]
    count: int


@router.get("/strategies")
def read_strategies(_user: CurrentUser) -> StrategiesPublic:
    """The selection strategies a round accepts, each with a one-line description."""
    data = [StrategyPublic(name=n, description=DESCRIPTIONS[n]) for n in MODEL_STRATEGIES]
    return StrategiesPublic(data=data, count=len(data))
