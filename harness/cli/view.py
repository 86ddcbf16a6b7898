"""`pactjury view`: serve the local review web app (harness/view/) on the loopback interface."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness.cli.common import DB_HELP, db_path
from harness.errors import ConfigError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_parsers(sub: Any) -> None:
    view = sub.add_parser("view", help="a local web app over the store: runs, disagreements, labels, calibration")
    view.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default 8765; 0: any free port)")
    view.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (127.0.0.1, ::1)")
    view.add_argument("--reviewer", help="the name the label form starts with")
    view.add_argument("--db", type=Path, help=DB_HELP)
    view.set_defaults(handler=cmd_view)


def cmd_view(args: argparse.Namespace) -> int:
    if args.host not in LOOPBACK:
        raise ConfigError(
            f"--host {args.host!r}: pactjury view listens on the loopback interface only "
            f"({', '.join(LOOPBACK)}); it has no login"
        )
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: not a port number (0-65535)")
    db = db_path(args)
    from harness.errors import StoreError
    from harness.store import Store

    if not db.exists():
        raise StoreError(f"{db}: no database here yet (run `pactjury run` first, or pass --db)")
    with Store(db):  # applies pending migrations once, before any page opens the store read-only
        pass
    return _serve(db, args.host, args.port, args.reviewer)


def _serve(db: Path, host: str, port: int, reviewer: str | None) -> int:
    import socket

    try:
        import uvicorn

        from harness.view.app import create_app
    except ImportError as exc:
        raise ConfigError(
            f"pactjury view needs {exc.name or 'its web framework'}: install the view extra (pip install -e '.[view]')"
        ) from None

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"--port {port}: cannot listen on {host} ({exc.strerror})") from None
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    print(f"pactjury view: http://{shown}:{bound}/ over {db} (Ctrl-C stops it)", file=sys.stderr, flush=True)
    config = uvicorn.Config(create_app(db, reviewer=reviewer), log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])
    return 0
