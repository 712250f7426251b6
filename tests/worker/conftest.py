"""Fixtures the worker tests share with the API tests."""

from tests.service.conftest import sent  # noqa: F401 - fixture
