"""Secrets derived from DEPTHAL_SECRET_KEY, so none is stored: the webhook secret Label Studio sends back, and the
signatures of the image URLs in task data (annotators' browsers load images without a depthal token)."""

from __future__ import annotations

import hashlib
import hmac

from service.config import get_settings

WEBHOOK_HEADER = "X-Depthal-Webhook-Secret"


def _mac(purpose: str) -> str:
    return hmac.new(get_settings().secret_key.encode(), purpose.encode(), hashlib.sha256).hexdigest()


def webhook_secret(project_id: int) -> str:
    return _mac(f"labelstudio-webhook:{project_id}")


def image_signature(image_id: int) -> str:
    return _mac(f"labelstudio-image:{image_id}")


def matches(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


ML_USER = "depthal"  # the ML backend's basic-auth user name; the password is `ml_password`


def ml_password(project_id: int) -> str:
    return _mac(f"labelstudio-ml-backend:{project_id}")
