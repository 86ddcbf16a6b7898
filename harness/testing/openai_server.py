"""The scripted OpenAI-compatible server the tests and benchmarks run on 127.0.0.1: per-model scripts of replies and
faults (harness/local/openai_http.py is its HTTP side, shared with `pactjury serve-model`).

    python -m harness.testing.openai_server --port 8199 --latency-ms 50 --reply "hello"
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import inspect
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Union

from harness.local.openai_http import (
    Fault,
    InFlight,
    Outcome,
    Reply,
    Responder,
    ServerHandle,
    _content_text,
    build_app,
    completion_body,
    serve_forever,
    start_in_thread,
    stream_chunks,
)

__all__ = [
    "Fault",
    "InFlight",
    "Outcome",
    "Reply",
    "Responder",
    "ScriptedResponder",
    "ServerHandle",
    "build_app",
    "completion_body",
    "echo",
    "last_user_text",
    "serve_forever",
    "start_in_thread",
    "stream_chunks",
]

DefaultFn = Callable[[dict[str, Any]], Union[Outcome, Awaitable[Outcome]]]

# ---------------------------------------------------------------- scripted responder


def last_user_text(request_json: dict[str, Any]) -> str:
    for msg in reversed(request_json.get("messages") or []):
        if isinstance(msg, dict) and msg.get("role") == "user":
            return _content_text(msg.get("content"))
    return ""


def echo(request_json: dict[str, Any]) -> Reply:
    """The builtin default: reply with the last user message, verbatim."""
    return Reply(text=last_user_text(request_json))


class ScriptedResponder:
    """Per-model FIFO scripts with a default for when a model's script runs out.

    Model names are as received in the request (litellm strips its `openai/` prefix before sending).
    Every request is recorded, so tests can assert on what the client actually sent.
    """

    def __init__(self, default: Outcome | DefaultFn | None = None, *, latency_s: float = 0.0):
        self.default: Outcome | DefaultFn = default if default is not None else echo
        self.latency_s = latency_s
        self._lock = threading.Lock()  # the server thread writes, the test thread reads
        self._scripts: dict[str, collections.deque[Outcome]] = {}
        self._requests: list[dict[str, Any]] = []

    def script(self, model: str, *items: Outcome) -> ScriptedResponder:
        for item in items:
            if not isinstance(item, (Reply, Fault)):
                raise TypeError(f"script items must be Reply or Fault, not {type(item).__name__}")
        with self._lock:
            self._scripts.setdefault(model, collections.deque()).extend(items)
        return self

    def pending(self, model: str) -> int:
        with self._lock:
            return len(self._scripts.get(model, ()))

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, model: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r.get("model") == model]

    def reset(self) -> None:
        with self._lock:
            self._scripts.clear()
            self._requests.clear()

    def model_names(self) -> list[str]:
        with self._lock:
            return sorted(self._scripts)

    async def __call__(self, request_json: dict[str, Any]) -> Outcome:
        model = str(request_json.get("model", ""))
        with self._lock:
            self._requests.append(request_json)
            queue = self._scripts.get(model)
            scripted = queue.popleft() if queue else None
        item: Outcome
        if scripted is not None:
            item = scripted
        else:
            made = self.default if isinstance(self.default, (Reply, Fault)) else self.default(request_json)
            item = await made if inspect.isawaitable(made) else made
        if self.latency_s:
            item = dataclasses.replace(item, delay_s=item.delay_s + self.latency_s)
        return item


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m harness.testing.openai_server", description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: loopback only)")
    ap.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    ap.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every reply")
    ap.add_argument("--reply", default=None, help="fixed reply text (default: echo the last user message)")
    args = ap.parse_args(argv)
    default = Reply(text=args.reply) if args.reply is not None else None
    responder = ScriptedResponder(default, latency_s=args.latency_ms / 1000.0)
    asyncio.run(serve_forever(responder, args.host, args.port))


if __name__ == "__main__":
    main()
