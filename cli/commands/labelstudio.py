"""`depthal labelstudio link|sync`: Label Studio as a front end (docs/labelstudio.md), against the database like
`depthal users` (the same functions as `POST /projects/{id}/labelstudio/link|sync`).

The Label Studio token is read from $DEPTHAL_LABELSTUDIO_TOKEN (never from the command line, where `ps` shows it).
Both print their result as JSON; a refusal is `depthal: error: <message>` with exit code 2 and nothing saved.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from cli.main import CLIError

TOKEN_ENV = "DEPTHAL_LABELSTUDIO_TOKEN"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("labelstudio", help="link a project to Label Studio, sync tasks and labels")
    actions = p.add_subparsers(dest="labelstudio_action", metavar="ACTION", required=True)
    link = actions.add_parser("link", help=f"link a project to a Label Studio project (token from ${TOKEN_ENV})")
    link.add_argument("--project", type=int, required=True, help="depthal project id")
    link.add_argument("--url", required=True, help="Label Studio's base URL")
    link.add_argument("--public-url", required=True, help="depthal's base URL as Label Studio and browsers reach it")
    link.add_argument(
        "--labelstudio-project",
        type=int,
        default=None,
        help="an existing Label Studio project (its labels must be the classes); default: create one",
    )
    link.add_argument("--no-webhook", action="store_true", help="no webhook: labels come back by `sync` only")
    link.add_argument(
        "--ml-backend",
        action="store_true",
        help="register depthal as the project's ML backend (newest pre-labels, Start training)",
    )
    link.set_defaults(func=run_link)
    sync = actions.add_parser("sync", help="take labels back, reconcile tasks with depthal's queue, push the queue")
    sync.add_argument("--project", type=int, required=True, help="depthal project id")
    sync.set_defaults(func=run_sync)


def run_link(args: argparse.Namespace) -> int:
    from service.crud.projects import get_project
    from service.db.session import stepwise_session
    from service.errors import ServiceError
    from service.labelstudio.link import link
    from service.labelstudio.schemas import LinkCreate

    token = os.environ.get(TOKEN_ENV)
    if not token:
        raise CLIError(f"set ${TOKEN_ENV} to the Label Studio API token")
    body = LinkCreate(
        url=args.url,
        token=token,
        public_url=args.public_url,
        project=args.labelstudio_project,
        webhook=not args.no_webhook,
    )
    with stepwise_session() as session:
        try:
            done = link(session=session, project=get_project(session=session, project_id=args.project), link_in=body)
        except ServiceError as err:
            raise CLIError(err.detail) from None
    print(json.dumps(done.model_dump(mode="json"), indent=1), file=sys.stdout)
    return 0


def run_sync(args: argparse.Namespace) -> int:
    from service.crud.projects import get_project
    from service.db.session import stepwise_session
    from service.errors import ServiceError
    from service.labelstudio.sync import sync

    with stepwise_session() as session:
        try:
            done = sync(session, project=get_project(session=session, project_id=args.project))
        except ServiceError as err:
            raise CLIError(err.detail) from None
    print(json.dumps(done.model_dump(mode="json"), indent=1), file=sys.stdout)
    return 1 if done.refused else 0
