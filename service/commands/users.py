"""`depthal users create NAME --role R`: create a user and print its API token (shown only once)."""

from __future__ import annotations

import argparse

from service.cli import CLIError

ROLES = ("admin", "lead", "annotator")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("users", help="manage users and their API tokens")
    actions = p.add_subparsers(dest="users_action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a user and print its API token")
    create.add_argument("name")
    create.add_argument("--role", choices=ROLES, required=True)
    create.set_defaults(func=create_user)


def create_user(args: argparse.Namespace) -> int:
    from sqlalchemy.orm import Session

    from service.crud import users as crud
    from service.db.session import get_engine
    from service.db.tables import Role
    from service.errors import Conflict

    try:
        with Session(get_engine()) as session:  # crud commits itself
            user, token = crud.create_user(session=session, name=args.name, role=Role(args.role))
            user_id = user.id
    except Conflict as err:
        raise CLIError(str(err)) from err
    print(f"created {args.role} {args.name!r} (id {user_id}); API token, shown only this once:")
    print(token)
    return 0
