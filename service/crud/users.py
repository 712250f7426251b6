"""Users and API tokens."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.db.base import utcnow
from service.db.tables import ApiToken, Role, User
from service.errors import Conflict
from service.security import hash_token, new_token

_TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is approximate: no write on every request


def create_user(*, session: Session, name: str, role: Role, token: str | None = None) -> tuple[User, str]:
    """Create a user with one token; returns the user and the plain token (shown once, stored hashed)."""
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise Conflict(f"a user named {name!r} already exists")
    token = token or new_token()
    user = User(name=name, role=role.value, is_active=True)
    user.tokens.append(ApiToken(token_hash=hash_token(token), prefix=token[:12]))
    session.add(user)
    try:
        session.commit()
    except IntegrityError as err:
        session.rollback()
        raise Conflict(f"a user named {name!r} already exists") from err
    return user, token


def list_users(*, session: Session, offset: int, limit: int) -> tuple[list[User], int]:
    users = list(session.scalars(select(User).order_by(User.id).offset(offset).limit(limit)))
    return users, session.scalar(select(func.count()).select_from(User)) or 0


def user_for_token(*, session: Session, token: str) -> User | None:
    """The active user holding this unrevoked token, or None."""
    row = session.execute(
        select(User, ApiToken)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked.is_(False), User.is_active.is_(True))
    ).first()
    if row is None:
        return None
    user, api_token = row
    now = utcnow()
    if api_token.last_used_at is None or now - api_token.last_used_at > _TOUCH_EVERY:
        api_token.last_used_at = now
        session.commit()
    return user


def ensure_admin(*, session: Session, token: str, name: str = "admin") -> User:
    """Start-up: make sure the bootstrap admin's token exists (idempotent)."""
    user = user_for_token(session=session, token=token)
    if user is not None:
        return user
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        user, _ = create_user(session=session, name=name, role=Role.ADMIN, token=token)
        return user
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), prefix=token[:12]))
    session.commit()
    return user
