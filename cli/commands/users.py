"""`depthal users create NAME --role R`: create a user and print its API token (shown only once);
`depthal users tokens NAME`: list the user's tokens (no secrets); `depthal users revoke-token NAME TOKEN_ID`;
`depthal users deactivate NAME` / `activate NAME`."""

from __future__ import annotations

import argparse

from cli.commands import database_session
from cli.main import CLIError

ROLES = ("admin", "lead", "annotator")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("users", help="manage users and their API tokens")
    actions = p.add_subparsers(dest="users_action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a user and print its API token")
    create.add_argument("name")
    create.add_argument("--role", choices=ROLES, required=True)
    create.set_defaults(func=create_user)
    tokens = actions.add_parser("tokens", help="list a user's API tokens (id, prefix, revoked, last used)")
    tokens.add_argument("name")
    tokens.set_defaults(func=list_tokens)
    revoke = actions.add_parser(
        "revoke-token",
        help="revoke one of a user's API tokens; running servers refuse it within 10 s (their token cache)",
    )
    revoke.add_argument("name")
    revoke.add_argument("token_id", type=_row_id, help="the id shown by `depthal users tokens NAME`")
    revoke.set_defaults(func=revoke_token)
    deactivate = actions.add_parser(
        "deactivate", help="deactivate a user: their tokens stop, their open leases are released"
    )
    deactivate.add_argument("name")
    deactivate.set_defaults(func=set_active, active=False)
    activate = actions.add_parser("activate", help="reactivate a deactivated user")
    activate.add_argument("name")
    activate.set_defaults(func=set_active, active=True)


def _row_id(text: str) -> int:
    from service.db.tables import INT32_MAX

    if not text.isdigit() or not 1 <= int(text) <= INT32_MAX:
        raise argparse.ArgumentTypeError(f"{text!r} is not an id (1 … {INT32_MAX})")
    return int(text)


def create_user(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from service.crud import users as crud
    from service.db.tables import Role
    from service.schemas import UserCreate

    try:  # the API's rules for a user (name of 1–120 storable characters)
        UserCreate(name=args.name, role=Role(args.role))
    except ValidationError as err:
        raise CLIError(f"user name {args.name!r}: {err.errors()[0]['msg']}") from err
    with database_session() as session:
        user, token = crud.create_user(session=session, name=args.name, role=Role(args.role))
        user_id = user.id
    print(f"created {args.role} {args.name!r} (id {user_id}); API token, shown only this once:")
    print(token)
    return 0


def list_tokens(args: argparse.Namespace) -> int:

    from service.crud import users as crud

    with database_session() as session:
        user = crud.get_user_by_name(session=session, name=args.name)
        tokens = crud.list_tokens(session=session, user_id=user.id)
    print(f"{'id':>6}  {'prefix':<14}{'revoked':<9}{'created':<27}last used")
    for t in tokens:
        last = t.last_used_at.isoformat(timespec="seconds") if t.last_used_at else "never"
        print(f"{t.id:>6}  {t.prefix + '…':<14}{'yes' if t.revoked else 'no':<9}"
              f"{t.created_at.isoformat(timespec='seconds'):<27}{last}")  # fmt: skip
    return 0


def revoke_token(args: argparse.Namespace) -> int:

    from service.crud import users as crud

    with database_session() as session:
        user = crud.get_user_by_name(session=session, name=args.name)
        token = crud.revoke_token(session=session, user_id=user.id, token_id=args.token_id)
        prefix = token.prefix
    print(f"revoked token {args.token_id} ({prefix}…) of {args.name!r}; running servers refuse it within 10 s")
    return 0


def set_active(args: argparse.Namespace) -> int:

    from service.crud import users as crud

    with database_session() as session:
        user = crud.get_user_by_name(session=session, name=args.name)
        _, released = crud.set_active(session=session, user_id=user.id, active=args.active)
    if args.active:
        print(f"activated {args.name!r}; their unrevoked tokens work again")
    else:
        print(f"deactivated {args.name!r}: {released} open lease(s) released; running servers refuse their tokens "
              "within 10 s, and at once where they mint tokens or manage users")  # fmt: skip
    return 0
