"""What every deterministic check shares: its context, its outcome and the base of its parameters."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict

from harness.types import Case, Transcript


class Params(BaseModel):
    """Base of every check's parameters. `path` selects a JSON path in the output instead of the text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str | None = None


@dataclass(frozen=True)
class Outcome:
    passed: bool
    detail: str = ""


class CheckInputError(Exception):
    """The transcript cannot be checked as asked (e.g. output is not JSON for a `path`): a fail, with why."""


@dataclass
class CheckContext:
    case: Case
    transcript: Transcript
    _cache: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def output_json(self) -> Any:
        try:
            return json.loads(self.transcript.output)
        except json.JSONDecodeError as exc:
            raise CheckInputError(f"output is not valid JSON ({exc.msg} at char {exc.pos})") from None

    def value(self, path: str | None) -> Any:
        """The output text, or the value at a JSON path (`$.a.b[0]`) of the JSON output."""
        if path is None:
            return self.transcript.output
        from harness.checks.jsonpath import find

        matches = find(path, self.output_json)
        if not matches:
            raise CheckInputError(f"JSON path {path} matched nothing in the output")
        return matches[0] if len(matches) == 1 else matches

    def text(self, path: str | None) -> str:
        v = self.value(path)
        return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


CheckFn = Callable[[CheckContext, Any], Outcome]


@dataclass(frozen=True)
class CheckDef:
    """A registry entry: the parameters model and the pure function it validates for."""

    params: type[Params]
    fn: CheckFn
    summary: str
