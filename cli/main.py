"""The `depthal` command line.

Each sub-command lives in its own module that exposes `register(subparsers)`; the module adds its parser and sets
`func` (called with the parsed args, returns an exit code). Command modules must not import torch at module level:
`depthal --help` and the service commands stay torch-free, and model commands import `models.*` inside `func`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Dotted names of the command modules, in the order `depthal --help` lists them.
COMMAND_MODULES: list[str] = [
    "cli.commands.up",
    "cli.commands.serve",
    "cli.commands.worker",
    "cli.commands.db",
    "cli.commands.backup",
    "cli.commands.project",
    "cli.commands.users",
    "cli.commands.members",
    "cli.commands.progress",
    "cli.commands.imports",
    "cli.commands.labelstudio",
    "cli.commands.demo",
    "cli.commands.synth",
    "cli.commands.pretrain_depth",
    "cli.commands.train_seg",
]


class CLIError(Exception):
    """A user error: printed as `depthal: error: <message>` with exit code 2, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="depthal", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CLIError as err:
        print(f"depthal: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as err:
        if (message := environment_error(err)) is None:
            raise
        print(f"depthal: error: {message}", file=sys.stderr)
        return 2


def environment_error(err: Exception) -> str | None:
    """What a user can fix, said in a line, for the errors any command meets in its settings or its database: an
    invalid DEPTHAL_ setting, a database URL SQLAlchemy cannot use, a database that cannot be reached or has not
    been migrated. None for anything else, which keeps its traceback (a bug)."""
    from pydantic import ValidationError
    from sqlalchemy import exc

    from service.config import Settings

    if isinstance(err, ValidationError) and err.title == Settings.__name__:
        return "; ".join(
            f"invalid setting DEPTHAL_{str(e['loc'][0]).upper()}={e['input']!r}: {e['msg']}" for e in err.errors()
        )
    if isinstance(err, exc.NoSuchModuleError | exc.ArgumentError):
        return f"DEPTHAL_DATABASE_URL is not a database URL SQLAlchemy can use: {err}"
    if isinstance(err, exc.OperationalError | exc.ProgrammingError):
        first = str(err.orig).strip().splitlines()[0] if err.orig is not None else str(err)
        if "no such table" in first or type(err.orig).__name__ == "UndefinedTable":  # SQLite, PostgreSQL
            return f"the database has no depthal schema yet ({first}): run `depthal db upgrade` first"
        if isinstance(err, exc.OperationalError):
            return f"cannot use the database: {first}"
    return None


if __name__ == "__main__":
    sys.exit(main())
