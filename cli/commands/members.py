"""`depthal members list PROJECT_ID`, `depthal members add PROJECT_ID USER --role R`, `depthal members remove
PROJECT_ID USER`: who may do what in a project (docs/security.md)."""

from __future__ import annotations

import argparse

from cli.commands import database_session
from cli.commands.users import _row_id

ROLES = ("lead", "annotator", "viewer")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("members", help="manage who may do what in a project")
    actions = p.add_subparsers(dest="members_action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="a project's members and their roles")
    listing.add_argument("project_id", type=_row_id)
    listing.set_defaults(func=list_members)
    add = actions.add_parser("add", help="add a user to a project with a role, or change their role")
    add.add_argument("project_id", type=_row_id)
    add.add_argument("name", help="the user's name")
    add.add_argument("--role", choices=ROLES, required=True)
    add.set_defaults(func=add_member)
    remove = actions.add_parser("remove", help="remove a user from a project")
    remove.add_argument("project_id", type=_row_id)
    remove.add_argument("name")
    remove.set_defaults(func=remove_member)


def list_members(args: argparse.Namespace) -> int:

    from service.crud import members, projects

    with database_session() as session:
        projects.get_project(session=session, project_id=args.project_id)
        rows = members.list_members(session=session, project_id=args.project_id)
    print(f"{'user id':>8}  {'name':<24}role")
    for member, user in rows:
        print(f"{user.id:>8}  {user.name:<24}{member.role}")
    return 0


def add_member(args: argparse.Namespace) -> int:

    from service.crud import members, users
    from service.db.tables import ProjectRole

    with database_session() as session:
        user = users.get_user_by_name(session=session, name=args.name)
        members.set_member(session=session, project_id=args.project_id, user_id=user.id,
                           role=ProjectRole(args.role))  # fmt: skip
    print(f"{args.name!r} is now {args.role} in project {args.project_id}")
    return 0


def remove_member(args: argparse.Namespace) -> int:

    from service.crud import members, users

    with database_session() as session:
        user = users.get_user_by_name(session=session, name=args.name)
        released = members.remove_member(session=session, project_id=args.project_id, user_id=user.id)
    print(f"removed {args.name!r} from project {args.project_id}; {released} open lease(s) released")
    return 0
