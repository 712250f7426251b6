"""`depthal backup DIR` and `depthal restore DIR`: the database and the storage folder, consistent, restorable on
another machine (docs/operations.md, "Backup and restore").

Consistency comes from the order: the database is copied first, as one snapshot (SQLite's online backup API;
`pg_dump`, which reads in one transaction), then the storage folder. Files are written before the rows that name
them commit and are never rewritten under the same name (a mask is a new version, a new file), so every row in the
snapshot finds its file in the copy; files newer than the snapshot are harmless extras. The API and the worker may
keep running during a backup.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from cli.main import CLIError

_MANIFEST = "backup.json"
_SQLITE_FILE = "depthal.sqlite"
_PG_FILE = "depthal.pgdump"
_STORAGE = "storage"


def register(subparsers: argparse._SubParsersAction) -> None:
    backup = subparsers.add_parser("backup", help="copy the database and the storage folder into a new folder")
    backup.add_argument("folder", type=Path, help="where the backup goes (must not exist yet)")
    backup.set_defaults(func=run_backup)
    restore = subparsers.add_parser(
        "restore", help="restore a backup into this configuration's (empty) database and storage folder"
    )
    restore.add_argument("folder", type=Path, help="a folder written by `depthal backup`")
    restore.set_defaults(func=run_restore)


def _libpq_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _sqlite_path(url: str) -> Path:
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    assert database is not None
    return Path(database)


def run_backup(args: argparse.Namespace) -> int:
    from service.config import get_settings
    from service.migrate import current_revision

    settings = get_settings()
    url, storage = settings.database_url, settings.storage_dir
    assert url is not None and storage is not None
    folder: Path = args.folder
    if folder.exists():
        raise CLIError(f"{folder} already exists; name a new folder for the backup")
    folder.mkdir(parents=True)
    revision = current_revision(url)
    if settings.is_sqlite:
        source = sqlite3.connect(_sqlite_path(url))
        target = sqlite3.connect(folder / _SQLITE_FILE)
        with target:
            source.backup(target)  # one consistent snapshot, while writers go on
        source.close()
        target.close()
        database = "sqlite"
    else:
        dump = subprocess.run(["pg_dump", "--format=custom", "--no-owner", f"--file={folder / _PG_FILE}",
                               _libpq_url(url)], capture_output=True, text=True)  # fmt: skip
        if dump.returncode != 0:
            raise CLIError(f"pg_dump failed: {dump.stderr.strip()[-500:]}")
        database = "postgresql"
    if storage.exists():  # after the database: every file its rows name is there already
        shutil.copytree(storage, folder / _STORAGE, ignore=shutil.ignore_patterns("tmp", "*.tmp*"))
    manifest = {"created_at": datetime.now(UTC).isoformat(), "database": database, "revision": revision}
    (folder / _MANIFEST).write_text(json.dumps(manifest, indent=1))
    print(f"backed up the {database} database (revision {revision}) and the storage folder to {folder}")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    from sqlalchemy import create_engine, inspect

    from service.config import get_settings
    from service.migrate import upgrade

    settings = get_settings()
    url, storage = settings.database_url, settings.storage_dir
    assert url is not None and storage is not None
    folder: Path = args.folder
    try:
        manifest = json.loads((folder / _MANIFEST).read_text())
    except (OSError, ValueError) as err:
        raise CLIError(f"{folder} is not a depthal backup (no readable {_MANIFEST})") from err
    wanted = "sqlite" if settings.is_sqlite else "postgresql"
    if manifest["database"] != wanted:
        raise CLIError(f"the backup holds a {manifest['database']} database; this configuration uses {wanted}")
    if storage.exists() and any(storage.iterdir()):
        raise CLIError(f"the storage folder {storage} is not empty; restore into an empty one")
    if settings.is_sqlite:
        path = _sqlite_path(url)
        if path.exists():
            raise CLIError(f"the database file {path} exists; restore into a new data directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / _SQLITE_FILE, path)
    else:
        engine = create_engine(url)
        try:
            tables = inspect(engine).get_table_names()
        finally:
            engine.dispose()
        if tables:
            raise CLIError("the database is not empty; restore into a new, empty database")
        done = subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={_libpq_url(url)}",
                               str(folder / _PG_FILE)], capture_output=True, text=True)  # fmt: skip
        if done.returncode != 0:
            raise CLIError(f"pg_restore failed: {done.stderr.strip()[-500:]}")
    if (folder / _STORAGE).exists():
        shutil.copytree(folder / _STORAGE, storage, dirs_exist_ok=True)
    upgrade(url)  # a backup from an older release is brought to this release's schema
    print(f"restored the backup of {manifest['created_at']} (revision {manifest['revision']}) from {folder}")
    return 0
