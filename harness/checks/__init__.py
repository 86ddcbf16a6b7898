"""The deterministic-check registry (name -> CheckDef) and the evaluation of one check on a transcript."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from harness.checks.base import CheckContext, CheckDef, CheckInputError, Outcome, Params
from harness.checks.runtime import CHECKS as _RUNTIME
from harness.checks.safety import CHECKS as _SAFETY
from harness.checks.structured import CHECKS as _STRUCTURED
from harness.checks.text import CHECKS as _TEXT
from harness.checks.tools import CHECKS as _TOOLS
from harness.errors import ConfigError
from harness.types import Case, CheckResult, CheckSpec

CHECKS: dict[str, CheckDef] = {**_TEXT, **_STRUCTURED, **_RUNTIME, **_TOOLS, **_SAFETY}

__all__ = ["CHECKS", "CheckContext", "CheckDef", "Outcome", "Params", "check_def", "bind", "evaluate"]


def check_def(name: str) -> CheckDef:
    try:
        return CHECKS[name]
    except KeyError:
        raise ConfigError(f"unknown check {name!r}; valid checks: {', '.join(sorted(CHECKS))}") from None


def _resolve(value: Any, case: Case | None) -> Any:
    """Replace `{expected: key}` references with the case's expectation (validation-time only if no case)."""
    if isinstance(value, dict):
        if set(value) == {"expected"} and isinstance(value["expected"], str):
            key = value["expected"]
            if case is None:
                return value
            if key not in case.expected:
                raise ConfigError(f"case {case.id!r} has no expected.{key} (referenced by a check)")
            return case.expected[key]
        return {k: _resolve(v, case) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, case) for v in value]
    return value


def _has_ref(value: Any) -> bool:
    if isinstance(value, dict):
        return (set(value) == {"expected"}) or any(_has_ref(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_ref(v) for v in value)
    return False


def binding_key(spec: CheckSpec, case: Case) -> str:
    """What `bind(spec, case)` depends on besides the spec: "" for a spec without expectation references (the same
    for every case), else the referenced values. Cases with equal keys may share one bound Params (frozen)."""
    if not _has_ref(spec.params):
        return ""
    resolved = {k: _resolve(v, case) for k, v in spec.params.items()}
    return json.dumps(resolved, sort_keys=True, default=repr)


def bind(spec: CheckSpec, case: Case | None = None) -> Params:
    """Validate a check's parameters, with expectation references resolved against `case`.

    Without a case, parameters holding references are checked for unknown names only (their values
    are known per case); the suite binds every (case, check) at load time, so errors surface before a run.
    """
    definition = check_def(spec.check)
    # Per value: a parameter may itself be named `expected` (similarity), which is not a reference.
    raw = {k: _resolve(v, case) for k, v in spec.params.items()}
    if case is None and any(_has_ref(v) for v in raw.values()):
        unknown = set(raw) - set(definition.params.model_fields)
        if unknown:
            raise ConfigError(f"check {spec.check!r}: unknown parameter(s) {', '.join(sorted(unknown))}")
        return definition.params.model_construct()
    try:
        return definition.params.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "params"
        raise ConfigError(f"check {spec.check!r}: {loc}: {err['msg']}") from None


def applies(spec: CheckSpec, case: Case) -> bool:
    if spec.when is not None and not case.expected.get(spec.when):
        return False
    if spec.unless is not None and case.expected.get(spec.unless):
        return False
    return True


def evaluate(spec: CheckSpec, params: Params, index: int, clause_id: str, ctx: CheckContext) -> CheckResult:
    """Run one bound check. Never raises: a check that cannot run is an `error` result with the reason."""
    base: dict[str, Any] = dict(
        case_id=ctx.case.id, clause_id=clause_id, index=index, check=spec.check, negated=spec.negate
    )
    if not applies(spec, ctx.case):
        return CheckResult(**base, outcome="skip", detail="condition not met for this case")
    try:
        out = CHECKS[spec.check].fn(ctx, params)
    except CheckInputError as exc:
        # The output is not shaped as the check needs: the assertion does not hold either way.
        return CheckResult(**base, outcome="fail", detail=str(exc))
    except Exception as exc:  # a custom check's bug is evidence about the check, not a crash of the run
        return CheckResult(**base, outcome="error", detail=f"{type(exc).__name__}: {exc}")
    passed = out.passed != spec.negate
    detail = out.detail if not spec.negate else f"negated: {out.detail}"
    return CheckResult(**base, outcome="pass" if passed else "fail", detail=detail)
