"""The embedded model's command: `serve-model`, an OpenAI-compatible endpoint over it."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from harness.cli.common import non_negative_int
from harness.errors import ConfigError


def add_parsers(sub: Any) -> None:
    srv = sub.add_parser("serve-model", help="serve the embedded local model as an OpenAI-compatible endpoint")
    srv.add_argument("model", help="the local model, local/gemma-3-270m")
    srv.add_argument("--port", type=non_negative_int, default=0, help="port (default 0: any free port, printed)")
    srv.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: loopback only)")
    srv.set_defaults(handler=cmd_serve_model)


def _loopback(host: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def cmd_serve_model(args: argparse.Namespace) -> int:
    import asyncio

    from harness.local import provider as local_model
    from harness.local.serve import serve

    try:
        name, mode = local_model.parse_model(args.model)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    model = f"{local_model.PROVIDER}/{name}"
    if mode != "generate":
        print(
            f"note: one server answers {', '.join(local_model.PROVIDER + '/' + m for m in local_model.SERVED)}; "
            "clients pick by the model name they send",
            file=sys.stderr,
        )
    if not _loopback(args.host):
        print(
            f"warning: listening on {args.host}, beyond this machine; the endpoint has no authentication",
            file=sys.stderr,
        )
    try:
        print(f"loading {model} ...", file=sys.stderr, flush=True)
        try:
            local_model.load()
        except ImportError as exc:
            raise ConfigError(str(exc)) from None
        asyncio.run(serve(model, args.host, args.port))
    except KeyboardInterrupt:  # Ctrl-C before the signal handlers were in place
        pass
    return 0
