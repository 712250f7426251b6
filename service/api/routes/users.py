from __future__ import annotations

from fastapi import APIRouter, status

from service.api.deps import AdminUser, CurrentUser, SelfOrAdmin, SessionDep
from service.api.params import Limit, Offset, RowId
from service.crud import users as crud
from service.schemas import (
    TokenCreated,
    TokenPublic,
    TokensPublic,
    UserActivation,
    UserCreate,
    UserCreated,
    UserPublic,
    UsersPublic,
)

router = APIRouter(prefix="/users", tags=["users"])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_user(session: SessionDep, _admin: AdminUser, user_in: UserCreate) -> UserCreated:
    """Create a user; the response carries its API token, which is never shown again."""
    user, token = crud.create_user(session=session, name=user_in.name, role=user_in.role)
    return UserCreated(id=user.id, name=user.name, role=user.role, is_active=user.is_active, token=token)


@router.get("")
def read_users(session: SessionDep, _admin: AdminUser, offset: Offset = 0, limit: Limit = 100) -> UsersPublic:
    """List users."""
    users, count = crud.list_users(session=session, offset=offset, limit=limit)
    return UsersPublic(data=[UserPublic.model_validate(u) for u in users], count=count)


@router.get("/me")
def read_me(user: CurrentUser) -> UserPublic:
    """The caller."""
    return UserPublic.model_validate(user)


@router.get("/{user_id}/tokens")
def read_tokens(session: SessionDep, _caller: SelfOrAdmin, user_id: RowId) -> TokensPublic:
    """A user's API tokens, revoked ones included, without their secrets (the user themself or an admin)."""
    tokens = crud.list_tokens(session=session, user_id=user_id)
    return TokensPublic(data=[TokenPublic.model_validate(t) for t in tokens], count=len(tokens))


@router.post("/{user_id}/tokens", status_code=status.HTTP_201_CREATED)
def create_token(session: SessionDep, _caller: SelfOrAdmin, user_id: RowId) -> TokenCreated:
    """Issue another token for the user (to rotate one); the response carries it, never shown again."""
    api_token, token = crud.issue_token(session=session, user_id=user_id)
    return TokenCreated(**TokenPublic.model_validate(api_token).model_dump(), token=token)


@router.delete("/{user_id}/tokens/{token_id}")
def revoke_token(session: SessionDep, _caller: SelfOrAdmin, user_id: RowId, token_id: RowId) -> TokenPublic:
    """Revoke one of the user's tokens (idempotent). It is refused at once by this process and within 10 s by the
    server's other worker processes, which cache token lookups that long."""
    return TokenPublic.model_validate(crud.revoke_token(session=session, user_id=user_id, token_id=token_id))


@router.post("/{user_id}/deactivate")
def deactivate_user(session: SessionDep, admin: AdminUser, user_id: RowId) -> UserActivation:
    """Deactivate a user (admin): their tokens stop at once in this process (other API processes within 10 s; the
    routes that mint tokens or manage users check the database) and their open leases are released, the images
    back in the queue. Not yourself (409). Idempotent."""
    user, released = crud.set_active(session=session, user_id=user_id, active=False, by=admin.id)
    return UserActivation(**UserPublic.model_validate(user).model_dump(), released_leases=released)


@router.post("/{user_id}/activate")
def activate_user(session: SessionDep, _admin: AdminUser, user_id: RowId) -> UserActivation:
    """Reactivate a user (admin); their unrevoked tokens work again."""
    user, _ = crud.set_active(session=session, user_id=user_id, active=True)
    return UserActivation(**UserPublic.model_validate(user).model_dump(), released_leases=0)
