"""The API fixtures for command tests that talk to a project (`depthal progress`)."""

from tests.service.conftest import api, broker, sent  # noqa: F401 - fixtures
