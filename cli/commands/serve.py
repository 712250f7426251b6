"""`depthal serve`: the HTTP API under uvicorn."""

from __future__ import annotations

import argparse
import errno
import logging
import socket

from cli.main import CLIError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="run the HTTP API (uvicorn)")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0 in containers)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (about one per core)")
    p.add_argument("--log-level", default="info")
    p.set_defaults(func=run)


def check_port_free(host: str, port: int) -> None:
    """Fail with a clear message before starting anything when the port is taken."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise CLIError(f"port {port} on {host} is already in use; stop what uses it or pass --port") from err
            raise CLIError(f"cannot listen on {host}:{port}: {err.strerror}") from err


def refuse_unsafe_exposure(host: str) -> None:
    """Listening beyond this machine needs a real deployment: not development mode (whose defaults are public) and
    not the placeholder admin token `changethis` (an admin account with a published password). Loopback is fine."""
    from service.config import get_settings

    if _is_loopback(host):
        return
    settings = get_settings()
    if settings.env == "development":
        raise CLIError(f"refusing to listen on {host} in development mode (DEPTHAL_ENV=development): anyone on the "
                       "network would reach it. Set DEPTHAL_ENV=production with a real DEPTHAL_ADMIN_TOKEN and "
                       "DEPTHAL_SECRET_KEY, or listen on 127.0.0.1")  # fmt: skip
    if settings.uses_placeholder_admin_token:
        raise CLIError(f"refusing to listen on {host} with the placeholder admin token; set DEPTHAL_ADMIN_TOKEN")


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost: it may resolve to anything


def ensure_bootstrap_admin() -> None:
    """Create the bootstrap admin once, here, before uvicorn forks its workers: each worker's start-up does the
    same, and N workers racing to insert the first admin on a fresh database would make all but one fail. A database
    that is unreachable or not migrated yet is named by the CLI (`cli.main.environment_error`)."""
    from sqlalchemy.orm import Session

    from service.config import get_settings
    from service.crud.users import ensure_admin
    from service.db.session import get_engine

    with Session(get_engine()) as session:
        ensure_admin(session=session, token=get_settings().admin_token)
    get_engine().dispose()  # no idle connection kept beside the API's pool (DEPTHAL_API_CONCURRENCY bounds them all)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    refuse_unsafe_exposure(args.host)
    check_port_free(args.host, args.port)
    ensure_bootstrap_admin()
    config = uvicorn.Config(
        "service.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        proxy_headers=True,
    )
    if config.workers == 1:
        uvicorn.Server(config).run()
        return 0
    from uvicorn.supervisors import Multiprocess

    sock = _listening_socket(args.host, args.port)
    logging.getLogger("uvicorn.error").info("Uvicorn running on http://%s:%d with %d workers", args.host, args.port,
                                            config.workers)  # fmt: skip
    Multiprocess(config, sockets=[sock]).run()
    return 0


def _listening_socket(host: str, port: int) -> socket.socket:
    """The shared socket for several uvicorn workers, created with proto=IPPROTO_TCP.

    uvicorn's own (`socket.socket(family)`) has proto 0; connections accepted from it inherit that, and asyncio
    sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP. Without TCP_NODELAY a keep-alive client waits
    for Nagle + delayed ACK: every request took ~44 ms instead of ~2 ms (measured with benchmarks/annotation_queue.py).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock
