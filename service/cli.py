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
    "service.commands.up",
    "service.commands.serve",
    "service.commands.worker",
    "service.commands.db",
    "service.commands.users",
    "service.commands.progress",
    "service.commands.demo",
    "models.commands.synth",
    "models.commands.pretrain_depth",
    "models.commands.train_seg",
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


if __name__ == "__main__":
    sys.exit(main())
