from __future__ import annotations

from fastapi import APIRouter, Query, status

from service.api.deps import AdminUser, CurrentUser, SessionDep
from service.crud import users as crud
from service.schemas import UserCreate, UserCreated, UserPublic, UsersPublic

router = APIRouter(prefix="/users", tags=["users"])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_user(session: SessionDep, _admin: AdminUser, user_in: UserCreate) -> UserCreated:
    """Create a user; the response carries its API token, which is never shown again."""
    user, token = crud.create_user(session=session, name=user_in.name, role=user_in.role)
    return UserCreated(id=user.id, name=user.name, role=user.role, is_active=user.is_active, token=token)


@router.get("")
def read_users(
    session: SessionDep, _admin: AdminUser, offset: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=1000)
) -> UsersPublic:
    """List users."""
    users, count = crud.list_users(session=session, offset=offset, limit=limit)
    return UsersPublic(data=[UserPublic.model_validate(u) for u in users], count=count)


@router.get("/me")
def read_me(user: CurrentUser) -> UserPublic:
    """The caller."""
    return UserPublic.model_validate(user)
