"""Users and API tokens."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service import queue
from service.db.base import utcnow
from service.db.tables import ApiToken, Role, User
from service.errors import Conflict, NotFound
from service.security import hash_token, new_token, shown_prefix

log = logging.getLogger(__name__)

_TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is approximate: no write on every request


def create_user(*, session: Session, name: str, role: Role, token: str | None = None) -> tuple[User, str]:
    """Create a user with one token; returns the user and the plain token (shown once, stored hashed)."""
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise Conflict(f"a user named {name!r} already exists")
    token = token or new_token()
    user = User(name=name, role=role.value, is_active=True)
    user.tokens.append(ApiToken(token_hash=hash_token(token), prefix=shown_prefix(token)))
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


# (database url, token hash) → (valid until, user columns): spares a query on every request. A revocation or
# deactivation done in this process drops the entry at once (`forget_cached_tokens`); other processes (uvicorn
# workers) notice within _CACHE_SECONDS.
_CACHE_SECONDS = 10.0
_CACHE_MAX = 10_000
_cache: dict[tuple[str, str], tuple[float, dict[str, object]]] = {}
# Bumped by every forget: a lookup that read the database before a revocation committed must not cache its
# (now stale) answer after the revocation dropped the entry.
_generation = 0


def _cache_key(session: Session, token_hash: str) -> tuple[str, str]:
    return str(session.get_bind().url), token_hash


def _cached(key: tuple[str, str]) -> User | None:
    """A detached copy of the cached user (read its columns, don't add it to a session), or None."""
    hit = _cache.get(key)
    return User(**hit[1]) if hit is not None and hit[0] > time.monotonic() else None


def cached_user_for_token(*, session: Session, token: str) -> User | None:
    """The cache's answer for this token without touching the database (so the API can ask it on its event loop),
    or None when not cached."""
    return _cached(_cache_key(session, hash_token(token)))


def user_for_token(*, session: Session, token: str, use_cache: bool = True) -> User | None:
    """The active user holding this unrevoked token, or None. Answers from a short-lived per-process cache when it
    can, else from the database."""
    token_hash = hash_token(token)
    key = _cache_key(session, token_hash)
    hit = _cached(key) if use_cache else None
    if hit is not None:
        return hit
    generation = _generation
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
    if generation == _generation:
        _cache[key] = (time.monotonic() + _CACHE_SECONDS, columns)
    return user


def token_refusal(*, session: Session, token: str) -> str:
    """Why `user_for_token` refused this token, for the 401 message (only asked on that path)."""
    row = session.execute(
        select(ApiToken, User).join(User, User.id == ApiToken.user_id).where(ApiToken.token_hash == hash_token(token))
    ).first()
    if row is None:
        return "invalid API token"
    api_token, user = row
    if api_token.revoked:
        return f"API token {api_token.prefix}… (id {api_token.id}) has been revoked"
    return f"user {user.name!r} is deactivated"


def forget_cached_tokens(token_hash: str | None = None) -> None:
    """Drop one token's cached lookups (after revoking it), or all of them (deactivating a user; tests)."""
    global _generation
    _generation += 1
    if token_hash is None:
        _cache.clear()
        return
    for key in [k for k in _cache if k[1] == token_hash]:
        _cache.pop(key, None)


def list_tokens(*, session: Session, user_id: int) -> list[ApiToken]:
    """A user's tokens, revoked ones included, oldest first (hashes only; the secrets are never stored)."""
    get_user(session=session, user_id=user_id)
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)))


def issue_token(*, session: Session, user_id: int) -> tuple[ApiToken, str]:
    """A new token for an existing user (e.g. to replace a revoked one); returns the row and the plain token."""
    get_user(session=session, user_id=user_id)
    token = new_token()
    api_token = ApiToken(user_id=user_id, token_hash=hash_token(token), prefix=shown_prefix(token))
    session.add(api_token)
    session.commit()
    return api_token, token


def revoke_token(*, session: Session, user_id: int, token_id: int) -> ApiToken:
    """Revoke one of a user's tokens (idempotent); it stops working at once in this process. Commits."""
    api_token = session.scalars(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user_id).with_for_update()
    ).first()
    if api_token is None:
        get_user(session=session, user_id=user_id)
        raise NotFound(f"user {user_id} has no API token {token_id}")
    if not api_token.revoked:
        api_token.revoked = True
        session.commit()
    forget_cached_tokens(api_token.token_hash)
    return api_token


def set_active(*, session: Session, user_id: int, active: bool, by: int | None = None) -> tuple[User, int]:
    """Deactivate (or reactivate) a user; commits. Deactivation stops their tokens at once in this process (the
    cache is dropped; other API processes within their 10 s cache window, but routes that mint tokens or manage
    users check the database) and releases their open leases, whose images go back to the queue. Returns the user
    and how many leases were released. `by`: the admin asking, who may not deactivate themself (no lock-out)."""
    if not active and by == user_id:
        raise Conflict("you cannot deactivate yourself; ask another admin")
    user = session.scalars(select(User).where(User.id == user_id).with_for_update()).first()
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    released = 0 if active else queue.release_open_leases(session, user_id=user_id)
    user.is_active = active
    session.commit()
    forget_cached_tokens()
    return user, released


def get_user(*, session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    return user


def get_user_by_name(*, session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"no user is named {name!r}")
    return user


def ensure_admin(*, session: Session, token: str, name: str = "admin") -> User | None:
    """Start-up: make sure the bootstrap admin's token exists (idempotent). A revoked bootstrap token stays
    revoked (None is returned and an error logged): restarting must not bring a withdrawn secret back."""
    user = user_for_token(session=session, token=token, use_cache=False)
    if user is not None:
        return user
    known = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if known is not None:  # revoked, or its user deactivated
        reason = token_refusal(session=session, token=token)
        log.error("DEPTHAL_ADMIN_TOKEN grants nothing: %s; set a new token", reason)
        return None
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        user, _ = create_user(session=session, name=name, role=Role.ADMIN, token=token)
        return user
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), prefix=shown_prefix(token)))
    session.commit()
    return user
