"""Users and API tokens."""

from __future__ import annotations

import time
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


# token hash → (valid until, user columns): spares a query on every request; a change to a user or token takes
# effect within _CACHE_SECONDS.
_CACHE_SECONDS = 10.0
_CACHE_MAX = 10_000
_cache: dict[tuple[str, str], tuple[float, dict[str, object]]] = {}


def user_for_token(*, session: Session, token: str, use_cache: bool = True) -> User | None:
    """The active user holding this unrevoked token, or None. Answers from a short-lived per-process cache when it
    can; the user returned then is a detached copy (read its columns, don't add it to a session)."""
    token_hash = hash_token(token)
    key = (str(session.get_bind().url), token_hash)
    hit = _cache.get(key) if use_cache else None
    if hit is not None and hit[0] > time.monotonic():
        return User(**hit[1])
    row = session.execute(
        select(User, ApiToken)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == token_hash, ApiToken.revoked.is_(False), User.is_active.is_(True))
    ).first()
    if row is None:
        return None
    user, api_token = row
    now = utcnow()
    if api_token.last_used_at is None or now - api_token.last_used_at > _TOUCH_EVERY:
        api_token.last_used_at = now
        session.commit()
    if len(_cache) >= _CACHE_MAX:
        _cache.clear()
    columns = {"id": user.id, "name": user.name, "role": user.role, "is_active": user.is_active}
    _cache[key] = (time.monotonic() + _CACHE_SECONDS, columns)
    return user


def forget_cached_tokens() -> None:
    """Drop the token cache (after revoking a token or deactivating a user in this process; tests)."""
    _cache.clear()


def ensure_admin(*, session: Session, token: str, name: str = "admin") -> User:
    """Start-up: make sure the bootstrap admin's token exists (idempotent)."""
    user = user_for_token(session=session, token=token, use_cache=False)
    if user is not None:
        return user
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        user, _ = create_user(session=session, name=name, role=Role.ADMIN, token=token)
        return user
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), prefix=token[:12]))
    session.commit()
    return user
