"""`depthal db upgrade`: bring the configured database to the newest schema (Alembic)."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("db", help="database schema migrations")
    actions = p.add_subparsers(dest="db_action", metavar="ACTION", required=True)
    up = actions.add_parser("upgrade", help="migrate the database to the newest schema (or --revision)")
    up.add_argument("--revision", default="head", help="Alembic revision to upgrade to (default: head)")
    up.set_defaults(func=upgrade)


def upgrade(args: argparse.Namespace) -> int:
    from sqlalchemy.engine import make_url

    from service.config import get_settings
    from service.migrate import upgrade as alembic_upgrade

    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # one line per plugin otherwise
    settings = get_settings()
    settings.ensure_dirs()
    assert settings.database_url is not None
    alembic_upgrade(settings.database_url, args.revision)
    log.info("database %s is at revision %s", make_url(settings.database_url).render_as_string(), args.revision)
    return 0
