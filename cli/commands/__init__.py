"""`depthal` sub-commands: each module has `register(subparsers)`, which adds its parser and sets `func`."""

from __future__ import annotations

import argparse
import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def parse_size(text: str) -> tuple[int, int]:
    """argparse type for an image size written HxW, e.g. 128x256 → (128, 256)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 128x256 (HxW), got {text!r}") from None
    return h, w


def require_models(command: str) -> None:
    """The model side (torch) is the `models` extra: a command that needs it says so, instead of an ImportError deep
    inside (the API and `depthal db upgrade` run without it)."""
    if importlib.util.find_spec("torch") is None:
        from cli.main import CLIError

        raise CLIError(f"`depthal {command}` needs the model side, which is not installed: "
                       "pip install 'depthal[models]' (torch, torchvision, kornia, matplotlib)")  # fmt: skip


@contextmanager
def database_session() -> Iterator[Session]:
    """A session on the configured database for a command that calls `service.crud` (which commits itself); a
    refusal of the service (`ServiceError`: unknown user, not a member, …) becomes the CLI's one-line error."""
    from sqlalchemy.orm import Session

    from cli.main import CLIError
    from service.db.session import get_engine
    from service.errors import ServiceError

    try:
        with Session(get_engine()) as session:
            yield session
    except ServiceError as err:
        raise CLIError(err.detail) from err
