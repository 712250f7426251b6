"""API tokens: random, shown once, stored as an HMAC-SHA256 keyed with the secret key."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from service.config import get_settings

TOKEN_PREFIX = "dal_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    key = get_settings().secret_key.encode()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()
