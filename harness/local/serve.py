"""`pactjury serve-model`: the embedded local model as an OpenAI-compatible chat endpoint."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from harness.errors import ConfigError


class LocalResponder:
    """An openai_server responder answering with harness.local.provider: the request's temperature, seed,
    max_tokens (or max_completion_tokens), stop and response_format are honoured; usage is real. The model
    name picks the mode: gemma-3-270m generates, gemma-3-270m:logprob scores a judge's verdict."""

    def model_names(self) -> list[str]:
        from harness.local.provider import SERVED

        return list(SERVED)

    async def __call__(self, body: dict[str, Any]) -> Any:
        from harness.local import provider as local_model
        from harness.local.openai_http import Fault, Reply

        model = str(body.get("model") or local_model.MODEL)
        params = {k: body.get(k) for k in ("temperature", "seed", "stop", "response_format")}
        params["max_tokens"] = body.get("max_completion_tokens") or body.get("max_tokens")
        try:
            local_model.parse_model(model)
        except ValueError as exc:
            return Fault(404, str(exc))
        try:
            result = await local_model.acomplete_model(model, body["messages"], **params)
        except ValueError as exc:
            return Fault(400, str(exc))
        except Exception as exc:  # the server stays up; the client gets a 500 it can retry
            return Fault(500, f"{type(exc).__name__}: {exc}")
        return Reply(
            text=result.text,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            cached_tokens=result.cached_tokens,
            finish_reason=result.finish_reason,
        )


async def serve(model: str, host: str, port: int) -> None:
    """Listen until SIGINT or SIGTERM, then close cleanly."""
    from aiohttp import web

    from harness.local.openai_http import build_app

    runner = web.AppRunner(
        build_app(LocalResponder()), access_log=None, handler_cancellation=True, shutdown_timeout=0.5
    )
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        bound = runner.addresses[0][1]
        shown = f"[{host}]" if ":" in host else host
        print(f"serving {model} at http://{shown}:{bound}/v1", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()
