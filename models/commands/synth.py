"""`depthal synth`: write a procedural street world in the Cityscapes layout (filled in by the data issue)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("synth", help="generate a synthetic street world in the Cityscapes layout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise NotImplementedError("depthal synth arrives with the data issue")
