"""`depthal project export PROJECT_ID FILE` and `depthal project import FILE`: one project, with its images,
sequences and every mask version, moved into another instance (service/project_archive.py; docs/operations.md,
"Moving one project")."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cli.commands import database_session
from cli.commands.users import _row_id
from cli.main import CLIError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("project", help="export one project to a file, or import one into this instance")
    actions = p.add_subparsers(dest="project_action", metavar="ACTION", required=True)
    export = actions.add_parser("export", help="write a project's archive: images, sequences, every mask version")
    export.add_argument("project_id", type=_row_id)
    export.add_argument("file", type=Path, help="the archive to write (a zip; must not exist yet)")
    export.set_defaults(func=run_export)
    imp = actions.add_parser("import", help="create a new project from an archive written by `project export`")
    imp.add_argument("file", type=Path)
    imp.add_argument("--name", help="the new project's name (default: the archive's; names are unique)")
    imp.add_argument("--id-map", type=Path, help="write {archive image id: new image id} to this JSON file")
    imp.set_defaults(func=run_import)


def run_export(args: argparse.Namespace) -> int:
    from service.project_archive import export_project

    target: Path = args.file
    if target.exists():
        raise CLIError(f"{target} already exists; an export never overwrites a file")
    if not target.parent.is_dir():
        raise CLIError(f"{target.parent} is not a folder")
    try:
        with database_session() as session:
            counts = export_project(session=session, project_id=args.project_id, target=target)
    except OSError as err:  # a stored file that is missing or unreadable: no half archive stays behind
        target.unlink(missing_ok=True)
        raise CLIError(f"could not export project {args.project_id}: {err.strerror}: {err.filename}") from err
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    print(f"project {args.project_id} → {target}: images {counts['images']}, sequences {counts['sequences']}, "
          f"mask versions {counts['masks']}")  # fmt: skip
    return 0


def run_import(args: argparse.Namespace) -> int:
    from service.project_archive import import_project

    if not args.file.is_file():
        raise CLIError(f"{args.file} is not a file")
    with database_session() as session:
        report = import_project(session=session, source=args.file, name=args.name)
    if args.id_map:
        args.id_map.write_text(json.dumps({str(k): v for k, v in report.image_ids.items()}, indent=1) + "\n")
    print(f"project {report.project_id} ({report.project!r}): images {len(report.image_ids)} ({report.labeled} "
          f"labeled), sequences {report.sequences}, mask versions {report.masks}")  # fmt: skip
    if report.users_created:
        print(f"annotators new to this instance, added inactive (history only): {', '.join(report.users_created)}")
    print("members, rounds and models do not travel: add members (`depthal members add`), then start a round")
    return 0
