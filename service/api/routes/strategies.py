from __future__ import annotations

from fastapi import APIRouter

from contracts.strategies import DEFAULT_STRATEGY, DESCRIPTIONS, StrategyName
from service.api.deps import CurrentUser
from service.schemas import StrategiesPublic, StrategyPublic

router = APIRouter(tags=["rounds"])


@router.get("/strategies")
def read_strategies(_user: CurrentUser) -> StrategiesPublic:
    """The selection strategies a round may use, with what each does; `default` marks the method's."""
    data = [StrategyPublic(name=s, description=DESCRIPTIONS[s], default=s == DEFAULT_STRATEGY) for s in StrategyName]
    return StrategiesPublic(data=data, count=len(data))
