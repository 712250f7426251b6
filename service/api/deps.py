"""FastAPI dependencies, used through the Annotated aliases at the bottom.

Why most of them are `async def` although the app is synchronous: FastAPI runs every plain `def` dependency in the
thread pool, one hand-off each (and a sync generator dependency two: enter and exit). Each hand-off wakes a worker
thread and passes the GIL: on the annotator's hot routes 4 hand-offs per request cost about 0.3 ms of server CPU
and much of the latency under load (benchmarks/results/history/annotation_queue.md, "One thread hand-off per
request"). So dependencies that do no I/O run on the event loop, the database work stays in the endpoint (one
hand-off per request), and the one dependency that may need the database (the token lookup, on a cache miss) goes
to the thread pool only then.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from service.api.params import RowId
from service.config import Settings, get_settings
from service.crud.projects import get_project
from service.crud.users import cached_user_for_token, token_refusal, user_for_token
from service.db.session import api_session
from service.db.tables import Project, Role, User


async def get_session() -> AsyncIterator[Session]:
    """One session per request. Opening it does no I/O; closing it does none either once the endpoint has committed
    or rolled back (the connection is back in the pool), so only a session left inside a transaction (an endpoint
    that raised) is closed in the thread pool, where its rollback may wait on the database."""
    session = api_session()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


async def get_settings_dep() -> Settings:
    return get_settings()


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]

_bearer = HTTPBearer(auto_error=False, description="API token: `Authorization: Bearer <token>`")


async def get_current_user(
    session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> User:
    """The token's user: from the per-process token cache on the event loop, else looked up in the thread pool."""
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing API token (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    user = cached_user_for_token(session=session, token=credentials.credentials)
    if user is None:
        user = await run_in_threadpool(_user_or_401, session, credentials.credentials)
    return user


def _user_or_401(session: Session, token: str) -> User:
    user = user_for_token(session=session, token=token, use_cache=False)
    if user is None:
        detail = token_refusal(session=session, token=token)
        session.rollback()  # end the read transaction here, not on the event loop
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def _require(*roles: Role):  # type: ignore[no-untyped-def]
    async def check(user: CurrentUser) -> User:
        if user.role not in roles:
            allowed = " or ".join(r.value for r in roles)
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {allowed} role; you are {user.role}")
        return user

    return check


LeadUser = Annotated[User, Depends(_require(Role.LEAD, Role.ADMIN))]
AdminUser = Annotated[User, Depends(_require(Role.ADMIN))]


async def _self_or_admin(user: CurrentUser, user_id: RowId) -> User:
    """For `/users/{user_id}/...`: the user themself, or an admin."""
    if user.id != user_id and user.role != Role.ADMIN:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"only user {user_id} or an admin may do this")
    return user


SelfOrAdmin = Annotated[User, Depends(_self_or_admin)]


def project_dep(session: SessionDep, project_id: RowId, _user: CurrentUser) -> Project:
    return get_project(session=session, project_id=project_id)


ProjectDep = Annotated[Project, Depends(project_dep)]
