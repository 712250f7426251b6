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
    """Readiness: the database and the broker answer (503 naming which does not; the reason, with hosts and
    ports, goes to the server's log, not to this unauthenticated answer). No token needed."""
    checks: dict[str, str] = {}
    try:
        session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as err:  # any driver error means "not ready"
        log.warning("not ready: database: %s: %s", type(err).__name__, err)
        checks["database"] = "unreachable"
    finally:
        session.rollback()
    try:
        task_queue.check_broker(timeout=1.0)
        checks["broker"] = "ok"
    except Exception as err:
        log.warning("not ready: broker: %s: %s", type(err).__name__, err)
        checks["broker"] = "unreachable"
    ok = all(v == "ok" for v in checks.values())
    if not ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return HealthPublic(status="ok" if ok else "unavailable", checks=checks)


@router.get("/db")
def database_roundtrip(session: SessionDep) -> HealthPublic:
    """A bare `SELECT 1`: the baseline of benchmarks/annotation_queue.py. No token needed."""
    session.execute(text("SELECT 1"))
    session.rollback()
    return HealthPublic(status="ok")
