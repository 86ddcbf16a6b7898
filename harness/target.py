"""Target agents behind one protocol: `await target.run(case, run_id) -> Transcript`, errors recorded, never raised."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import shlex
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.errors import ConfigError
from harness.types import Case, ToolCall, Transcript


class Target(Protocol):
    spec: str  # what the run records; secrets already removed

    async def run(self, case: Case, run_id: str) -> Transcript: ...


@dataclass(frozen=True)
class TargetOptions:
    base_url: str | None = None
    api_key_env: str | None = None  # the *name* of the variable; keys never travel in specs or files
    timeout_s: float = 60.0
    temperature: float | None = 0.0
    max_tokens: int | None = None
    seed: int | None = None
    retries: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    system: str | None = None  # replaces each case's system prompt (e.g. a few-shot prompt for a small model)
    response_format: dict[str, Any] | None = None  # e.g. a JSON schema for constrained output


def _short(exc: BaseException) -> str:
    from harness.secrets import redact

    text = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return redact(text)[:500]


def transcript_from_reply(reply: Any, run_id: str, case_id: str, latency_ms: float) -> Transcript:
    """Normalise what a Python or command agent returned: text, or a dict with output and tool calls."""
    if isinstance(reply, str):
        return Transcript(run_id=run_id, case_id=case_id, output=reply, latency_ms=latency_ms)
    if not isinstance(reply, dict):
        return Transcript(
            run_id=run_id,
            case_id=case_id,
            latency_ms=latency_ms,
            error=f"agent returned {type(reply).__name__}; expected str or dict with 'output'",
        )
    output = reply.get("output", "")
    if not isinstance(output, str):
        output = json.dumps(output, ensure_ascii=False)
    try:
        calls = tuple(ToolCall.model_validate(c) for c in reply.get("tool_calls") or ())
    except Exception as exc:
        return Transcript(
            run_id=run_id,
            case_id=case_id,
            output=output,
            latency_ms=latency_ms,
            error=f"agent returned malformed tool_calls: {_short(exc)}",
        )
    return Transcript(
        run_id=run_id,
        case_id=case_id,
        output=output,
        tool_calls=calls,
        latency_ms=latency_ms,
        tokens_in=reply.get("tokens_in"),
        tokens_out=reply.get("tokens_out"),
        cost_usd=reply.get("cost_usd"),
        error=reply.get("error"),
    )


class PythonTarget:
    """`python:pkg.module:function` or `python:path/to/agent.py:function`, sync or async."""

    def __init__(self, ref: str, options: TargetOptions):
        from harness.pyload import load_callable

        self.spec = f"python:{ref}"
        self.fn = load_callable(ref)
        self.is_async = inspect.iscoroutinefunction(self.fn)
        self.timeout_s = options.timeout_s

    async def run(self, case: Case, run_id: str) -> Transcript:
        start = time.perf_counter()
        payload = case.payload()
        try:
            call = self.fn(payload) if self.is_async else asyncio.to_thread(self.fn, payload)
            reply = await asyncio.wait_for(call, self.timeout_s)
        except TimeoutError:
            return _error(run_id, case.id, start, f"timed out after {self.timeout_s:g}s")
        except Exception as exc:
            return _error(run_id, case.id, start, _short(exc))
        return transcript_from_reply(reply, run_id, case.id, _ms(start))


class CommandTarget:
    """`cmd:COMMAND`: the case as JSON on stdin, the reply (text, or JSON with `output`) on stdout."""

    def __init__(self, command: str, options: TargetOptions):
        from harness.secrets import redact

        if not command.strip():
            raise ConfigError("--target cmd: needs a command after 'cmd:'")
        self.command = command
        self.spec = redact(f"cmd:{command}")
        self.timeout_s = options.timeout_s

    async def run(self, case: Case, run_id: str) -> Transcript:
        start = time.perf_counter()
        try:
            proc = await asyncio.create_subprocess_shell(
                self.command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            return _error(run_id, case.id, start, _short(exc))
        try:
            out, err = await asyncio.wait_for(proc.communicate(json.dumps(case.payload()).encode()), self.timeout_s)
        except TimeoutError:
            _kill(proc)
            await proc.wait()
            return _error(run_id, case.id, start, f"timed out after {self.timeout_s:g}s")
        except asyncio.CancelledError:
            _kill(proc)
            raise
        if proc.returncode != 0:
            tail = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
            return _error(run_id, case.id, start, f"command exited with status {proc.returncode}: {tail[0][:300]}")
        return transcript_from_reply(_parse_stdout(out.decode(errors="replace")), run_id, case.id, _ms(start))


def _parse_stdout(text: str) -> Any:
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            return text
        if isinstance(data, dict) and "output" in data:
            return data
    return text.rstrip("\n")


def _kill(proc: asyncio.subprocess.Process) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole group: a shell's children must not outlive the case
    except (ProcessLookupError, PermissionError):
        pass


class ModelTarget:
    """Any litellm model string (openai/..., anthropic/..., ollama/..., local/...), optionally at a base URL."""

    def __init__(self, model: str, options: TargetOptions):
        from harness.secrets import redact_url

        self.model = model
        self.options = options
        self.spec = model + (f" @ {redact_url(options.base_url)}" if options.base_url else "")
        self.api_key = api_key_from_env(options.api_key_env, options.base_url, "--target-api-key-env")

    async def run(self, case: Case, run_id: str) -> Transcript:
        from harness.llm import LLMRequest, complete

        o = self.options
        prompted = case.model_copy(update={"system": o.system}) if o.system is not None else case
        req = LLMRequest(
            model=self.model,
            messages=prompted.messages(),
            temperature=o.temperature,
            max_tokens=o.max_tokens,
            seed=o.seed,
            api_base=o.base_url,
            api_key=self.api_key,
            timeout_s=o.timeout_s,
            retries=o.retries,
            response_format=o.response_format,
            tools=list(case.tools) or None,
            extra=o.extra,
        )
        r = await complete(req)
        return Transcript(
            run_id=run_id,
            case_id=case.id,
            output=r.text,
            tool_calls=r.tool_calls,
            latency_ms=r.latency_ms,
            tokens_in=r.tokens_in,
            tokens_out=r.tokens_out,
            cost_usd=r.cost_usd,
            error=r.error,
        )


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


def _error(run_id: str, case_id: str, start: float, message: str) -> Transcript:
    return Transcript(run_id=run_id, case_id=case_id, latency_ms=_ms(start), error=message)


def api_key_from_env(variable: str | None, api_base: str | None, who: str) -> str | None:
    """The key held by the named environment variable (keys are never written in files or on command lines)."""
    if variable:
        key = os.environ.get(variable)
        if not key:
            raise ConfigError(f"{who}: environment variable {variable} is not set")
        return key
    # Self-hosted OpenAI-compatible servers usually need no key, but the client insists on one.
    return "no-key" if api_base else None


def make_target(spec: str, options: TargetOptions | None = None) -> Target:
    """Build a target from a `--target` spec; bad specs are ConfigErrors raised before anything runs."""
    options = options or TargetOptions()
    spec = spec.strip()
    if spec.startswith("python:"):
        return PythonTarget(spec[len("python:") :], options)
    if spec.startswith("cmd:"):
        return CommandTarget(spec[len("cmd:") :], options)
    if not spec or any(ch.isspace() for ch in spec):
        raise ConfigError(
            f"--target {shlex.quote(spec)}: expected a litellm model (e.g. openai/gpt-4o-mini), "
            "python:module:function or cmd:COMMAND"
        )
    if spec.endswith(".py") or (os.sep in spec and os.path.exists(spec)):
        raise ConfigError(
            f"--target {shlex.quote(spec)}: a file, not a target; for a Python agent write "
            f"python:{spec}:FUNCTION, for a program cmd:{spec}"
        )
    from harness.llm import route_problem

    problem = route_problem(spec, options.base_url)
    if problem is not None:
        raise ConfigError(f"--target {shlex.quote(spec)}: {problem}, or use python:module:function or cmd:COMMAND")
    return ModelTarget(spec, options)
