"""FastAPI dependencies, used through the Annotated aliases at the bottom."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from service.config import Settings, get_settings
from service.crud.projects import get_project
from service.crud.users import token_refusal, user_for_token
from service.db.session import get_session
from service.db.tables import Project, Role, User

SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

_bearer = HTTPBearer(auto_error=False, description="API token: `Authorization: Bearer <token>`")


def get_current_user(
    session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> User:
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing API token (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    user = user_for_token(session=session, token=credentials.credentials)
    if user is None:
        detail = token_refusal(session=session, token=credentials.credentials)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def _require(*roles: Role):  # type: ignore[no-untyped-def]
    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            allowed = " or ".join(r.value for r in roles)
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {allowed} role; you are {user.role}")
        return user

    return check


LeadUser = Annotated[User, Depends(_require(Role.LEAD, Role.ADMIN))]
AdminUser = Annotated[User, Depends(_require(Role.ADMIN))]


def _self_or_admin(user: CurrentUser, user_id: int) -> User:
    """For `/users/{user_id}/...`: the user themself, or an admin."""
    if user.id != user_id and user.role != Role.ADMIN:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"only user {user_id} or an admin may do this")
    return user


SelfOrAdmin = Annotated[User, Depends(_self_or_admin)]


def project_dep(session: SessionDep, project_id: int, _user: CurrentUser) -> Project:
    return get_project(session=session, project_id=project_id)


ProjectDep = Annotated[Project, Depends(project_dep)]
