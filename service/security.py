"""API tokens: random, shown once, stored as an HMAC-SHA256 keyed with the secret key."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from service.config import get_settings

TOKEN_PREFIX = "dal_"


SHOWN_SECRET_CHARS = 4  # of a token's secret part, stored and shown to tell tokens apart (issue 19: was 8)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def shown_prefix(token: str) -> str:
    """What is stored and shown of a token: `dal_` and the first 4 characters of its secret; of a token from
    elsewhere (a DEPTHAL_ADMIN_TOKEN the operator chose), its first 4 characters. 4 of 43 random characters tell
    a user's tokens apart and leave 234 bits unknown."""
    known = TOKEN_PREFIX if token.startswith(TOKEN_PREFIX) else ""
    return token[: len(known) + SHOWN_SECRET_CHARS]


def hash_token(token: str) -> str:
    key = get_settings().secret_key.encode()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()
