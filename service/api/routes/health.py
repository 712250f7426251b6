from __future__ import annotations

import logging

from fastapi import APIRouter, Response, status
from sqlalchemy import text

from service import task_queue
from service.api.deps import SessionDep
from service.schemas import HealthPublic

router = APIRouter(prefix="/health", tags=["health"])
log = logging.getLogger(__name__)


@router.get("")
def liveness() -> HealthPublic:
    """Liveness: the process answers. No token needed (for orchestrators)."""
    return HealthPublic(status="ok")


@router.get("/ready")
def readiness(session: SessionDep, response: Response) -> HealthPublic:
    """Readiness: the database and the broker answer (503 naming what does not). No token needed."""
    checks: dict[str, str] = {}
    try:
        session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as err:  # any driver error means "not ready"
        checks["database"] = f"unreachable: {type(err).__name__}: {err}"[:300]
    finally:
        session.rollback()
    try:
        task_queue.check_broker(timeout=1.0)
        checks["broker"] = "ok"
    except Exception as err:
        checks["broker"] = f"unreachable: {type(err).__name__}: {err}"[:300]
    ok = all(v == "ok" for v in checks.values())
    if not ok:
        log.warning("not ready: %s", checks)
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return HealthPublic(status="ok" if ok else "unavailable", checks=checks)


@router.get("/db")
def database_roundtrip(session: SessionDep) -> HealthPublic:
    """A bare `SELECT 1`: the baseline of benchmarks/annotation_queue.py. No token needed."""
    session.execute(text("SELECT 1"))
    session.rollback()
    return HealthPublic(status="ok")
