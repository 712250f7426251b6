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

from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from service.api.params import RowId
from service.config import Settings, get_settings
from service.crud import members
from service.crud.projects import get_project
from service.crud.users import cached_user_for_token, token_refusal, user_for_token
from service.db.session import api_session
from service.db.tables import Project, ProjectRole, Role, User


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


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header, or 401."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing API token (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token.strip()


async def authenticate(session: Session, token: str, *, fresh: bool = False) -> User:
    """The token's user: from the per-process token cache on the event loop, else (or when `fresh`: routes that
    mint tokens or manage users must not trust a cache that a revocation elsewhere has not reached) looked up in
    the thread pool. The lookup ends its transaction in that thread (see `_user_or_401`)."""
    user = None if fresh else cached_user_for_token(session=session, token=token)
    if user is None:
        user = await run_in_threadpool(_user_or_401, session, token)
    return user


def _user_or_401(session: Session, token: str) -> User:
    """Runs in a worker thread and ends its transaction there: a transaction left open across the hand-off to the
    endpoint's thread held a pooled connection (PostgreSQL: pool and thread pool locked each other) or SQLite's
    write lock (`BEGIN IMMEDIATE`: every other request waited) while waiting for a thread (issue 19)."""
    try:
        user = user_for_token(session=session, token=token, use_cache=False)
        if user is None:
            detail = token_refusal(session=session, token=token)
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})
        session.commit()  # the session keeps the user's loaded columns (expire_on_commit=False)
        return user
    finally:
        if session.in_transaction():
            session.rollback()


async def get_current_user(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    """The caller. Requests with a body were authenticated before it was read (service/api/limits.py), which left
    the user in `request.state`."""
    checked = getattr(request.state, "user", None)
    if checked is not None:
        return checked
    token = bearer_token(f"Bearer {credentials.credentials}" if credentials else None)
    return await authenticate(session, token)


async def get_fresh_user(
    session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> User:
    """The caller, checked against the database whatever the cache says (issue 19, item 5)."""
    token = bearer_token(f"Bearer {credentials.credentials}" if credentials else None)
    return await authenticate(session, token, fresh=True)


CurrentUser = Annotated[User, Depends(get_current_user)]
FreshUser = Annotated[User, Depends(get_fresh_user)]


def _require(*roles: Role):  # type: ignore[no-untyped-def]
    def refuse_unless_allowed(user: User) -> User:
        if user.role not in roles:
            allowed = " or ".join(r.value for r in roles)
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {allowed} role; you are {user.role}")
        return user

    async def check(user: CurrentUser) -> User:
        return refuse_unless_allowed(user)

    async def check_fresh(user: FreshUser) -> User:
        return refuse_unless_allowed(user)

    return check_fresh if roles == (Role.ADMIN,) else check


LeadUser = Annotated[User, Depends(_require(Role.LEAD, Role.ADMIN))]
AdminUser = Annotated[User, Depends(_require(Role.ADMIN))]  # user admin: checked against the database


async def _self_or_admin(user: FreshUser, user_id: RowId) -> User:
    """For `/users/{user_id}/...` (listing, minting and revoking tokens): the user themself, or an admin, checked
    against the database (a token revoked in another process must not mint its successor from that process's
    cache)."""
    if user.id != user_id and user.role != Role.ADMIN:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"only user {user_id} or an admin may do this")
    return user


SelfOrAdmin = Annotated[User, Depends(_self_or_admin)]


def _project_dep(*roles: ProjectRole):  # type: ignore[no-untyped-def]
    async def project_dep(session: SessionDep, project_id: RowId, user: CurrentUser) -> Project:
        return await run_in_threadpool(_project_then_release, session, project_id, user, roles)

    return project_dep


def _project_then_release(session: Session, project_id: int, user: User, roles: tuple[ProjectRole, ...]) -> Project:
    """The project if the caller has one of `roles` in it (404 for non-members, as for a project that does not
    exist; 403 for a member with another role), its read transaction ended in this thread (see `_user_or_401`)."""
    try:
        project = get_project(session=session, project_id=project_id)
        members.require(session=session, project_id=project_id, user=user, roles=roles,
                        missing=f"project {project_id} does not exist")  # fmt: skip
        return project
    finally:
        session.commit()


ProjectDep = Annotated[Project, Depends(_project_dep(*members.ANY_MEMBER))]  # any member: reads
ProjectLead = Annotated[Project, Depends(_project_dep(*members.LEADS))]  # the project's leads (and admins)
