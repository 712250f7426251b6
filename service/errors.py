"""Domain errors raised by crud/queue/masks and mapped to HTTP statuses by one handler in `service.main`.

Each carries a message that names the problem; raising one must leave the database unchanged (callers raise before
they write, or the session is rolled back).
"""

from __future__ import annotations


class ServiceError(Exception):
    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(ServiceError):
    status_code = 404


class Forbidden(ServiceError):
    status_code = 403


class Conflict(ServiceError):
    status_code = 409


class Gone(ServiceError):
    """A lease that expired: the caller must ask for a new one."""

    status_code = 410


class Invalid(ServiceError):
    status_code = 422


class TooLarge(ServiceError):
    status_code = 413


class Unavailable(ServiceError):
    """Something depthal depends on cannot be reached (the broker, a linked Label Studio): try again later."""

    status_code = 503


class InsufficientStorage(ServiceError):
    """The storage volume is full (ENOSPC, EDQUOT): nothing was stored; retry once an operator made room."""

    status_code = 507
