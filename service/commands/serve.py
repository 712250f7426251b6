"""`depthal serve`: the HTTP API under uvicorn."""

from __future__ import annotations

import argparse
import errno
import socket

from service.cli import CLIError


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


def run(args: argparse.Namespace) -> int:
    import uvicorn

    check_port_free(args.host, args.port)
    uvicorn.run(
        "service.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        proxy_headers=True,
    )
    return 0
