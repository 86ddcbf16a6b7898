"""Parse suites, resolve their clause references against the pact, and bind every check to every case."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.checks import Params, bind, binding_key
from harness.errors import ConfigError, LoadError
from harness.pact import content_hash, parse_pact, pydantic_error
from harness.types import Case, CheckSpec, Clause, Pact, Suite
from harness.yamlio import YamlDoc, load_yaml

SUITE_KEYS = {
    "id",
    "pact",
    "description",
    "system",
    "tools",
    "cases",
    "adversarial",
}  # adversarial: harness/adversarial.py
CASE_KEYS = {
    "id",
    "clauses",
    "input",
    "system",
    "context",
    "expected",
    "tags",
    "tools",
    "mutated_from",
    "mutator",
    "mutation",
}
TODO = "TODO"  # an expectation still to be filled in (pactjury derive writes them); validation warns

BoundChecks = tuple[tuple[CheckSpec, Params], ...]


@dataclass(frozen=True)
class Plan:
    """A validated pact and suite, with each case's checks bound to its expectations: ready to run."""

    pact: Pact
    suite: Suite
    suite_dir: Path
    checks: dict[tuple[str, str], BoundChecks]  # (case id, clause id) -> bound checks
    warnings: tuple[str, ...] = field(default=())
    suite_file: Path | None = None  # set when the suite was given as a file (e.g. derived.yaml), not a directory

    def clauses_of(self, case: Case) -> list[Clause]:
        return [self.pact.clause(cid) for cid in case.clause_ids]


def _case_data(
    raw: dict[str, Any], suite_id: str, default_system: str | None, default_tools: list[Any] | None = None
) -> dict[str, Any]:
    data = {k: v for k, v in raw.items()}
    if "clauses" in data:
        data["clause_ids"] = data.pop("clauses")
    data["suite_id"] = suite_id
    if data.get("system") is None and default_system:
        data["system"] = default_system
    if "tools" not in data and default_tools:  # only then part of the hash: cases without tools keep theirs
        data["tools"] = default_tools
    data["hash"] = content_hash({k: v for k, v in data.items() if k not in ("tags",)})
    return data


def parse_suite(doc: YamlDoc) -> tuple[Suite, str]:
    """The suite record and the pact file name it refers to (relative to the suite's directory)."""
    raw = doc.data
    if not isinstance(raw, dict):
        raise doc.error((), "a suite must be a mapping with id and cases")
    for key in raw:
        if key not in SUITE_KEYS:
            raise doc.error((key,), f"unknown field {key!r}; valid fields: {', '.join(sorted(SUITE_KEYS))}")
    for key in ("id", "cases"):
        if key not in raw:
            raise doc.error((), f"missing required field {key!r}")
    if not isinstance(raw["cases"], list) or not raw["cases"]:
        raise doc.error(("cases",), "cases must be a non-empty list")
    suite_id = str(raw["id"])
    suite_tools = check_tools(doc, ("tools",), raw["tools"]) if "tools" in raw else None
    cases = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(raw["cases"]):
        if not isinstance(entry, dict):
            raise doc.error(("cases", i), "each case must be a mapping")
        for key in entry:
            if key not in CASE_KEYS:
                raise doc.error(
                    ("cases", i, key), f"unknown field {key!r}; valid fields: {', '.join(sorted(CASE_KEYS))}"
                )
        if "tools" in entry:
            check_tools(doc, ("cases", i, "tools"), entry["tools"])
        try:
            case = Case.model_validate(_case_data(entry, suite_id, raw.get("system"), suite_tools))
        except ValidationError as exc:
            raise pydantic_error(doc, exc, prefix=("cases", i)) from None
        if case.id in seen:
            raise doc.error(("cases", i, "id"), f"duplicate case id {case.id!r} (first at cases[{seen[case.id]}])")
        seen[case.id] = i
        cases.append(case)
    try:
        suite = Suite(id=suite_id, hash=content_hash(raw), description=raw.get("description"), cases=tuple(cases))
    except ValidationError as exc:
        raise pydantic_error(doc, exc) from None
    return suite, str(raw.get("pact") or "pact.yaml")


def check_tools(doc: YamlDoc, loc: tuple[Any, ...], tools: Any) -> list[Any]:
    """A `tools:` list in OpenAI function format, each {type: function, function: {name, parameters}}, names unique."""
    if not isinstance(tools, list):
        raise doc.error(loc, "tools must be a list of {type: function, function: {name, description, parameters}}")
    seen: set[str] = set()
    for j, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or tool.get("type", "function") != "function":
            raise doc.error((*loc, j), "a tool must be {type: function, function: {name, description, parameters}}")
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            raise doc.error((*loc, j, "function", "name"), "a tool needs a name")
        if name in seen:
            raise doc.error((*loc, j, "function", "name"), f"duplicate tool name {name!r}")
        seen.add(name)
        params = fn.get("parameters")
        if params is not None and not (isinstance(params, dict) and params.get("type", "object") == "object"):
            raise doc.error((*loc, j, "function", "parameters"), "parameters must be a JSON Schema of type object")
    return tools


def bind_suite(pact: Pact, suite: Suite, doc: YamlDoc) -> tuple[dict[tuple[str, str], BoundChecks], list[str]]:
    """Resolve clause references and bind checks per case; unknown clauses are errors, untested ones warnings."""
    known = {c.id: c for c in pact.clauses}
    bound: dict[tuple[str, str], BoundChecks] = {}
    tested: set[str] = set()
    # Bound checks shared between cases that bind them alike (most clauses' checks name no expectation): a
    # 20,000-case suite would otherwise hold one validated Params per case and check (~30 MB).
    shared: dict[tuple[str, tuple[str, ...]], BoundChecks] = {}
    for i, case in enumerate(suite.cases):
        for j, clause_id in enumerate(case.clause_ids):
            if clause_id not in known:
                raise doc.error(
                    ("cases", i, "clauses", j),
                    f"case {case.id!r} names unknown clause {clause_id!r}; pact {pact.id} has: {', '.join(known)}",
                )
            tested.add(clause_id)
            clause = known[clause_id]
            try:
                key = (clause_id, tuple(binding_key(spec, case) for spec in clause.checks))
                if key not in shared:
                    shared[key] = tuple((spec, bind(spec, case)) for spec in clause.checks)
                bound[(case.id, clause_id)] = shared[key]
            except ConfigError as exc:
                raise doc.error(("cases", i, "expected"), f"clause {clause_id!r}: {exc}") from None
    warnings = [
        f"{doc.path}: clause {c.id!r} is tested by no case (its status will be no-evidence)"
        for c in pact.clauses
        if c.id not in tested
    ]
    warnings += [
        f"{doc.where(('cases', i, 'expected', key))}: unfilled expectation ({TODO}); fill it in before "
        f"relying on case {case.id!r}"
        for i, case in enumerate(suite.cases)
        for key, value in case.expected.items()
        if is_unfilled(value)
    ]
    return bound, warnings


def load_plan(suite_dir: Path, adversarial: bool = True) -> Plan:
    """Load `suite.yaml` (and the pact it names) from a suite directory, or a suite file directly.

    `adversarial=False` leaves out the cases the suite's `adversarial:` block would add (originals only).
    """
    suite_dir = Path(suite_dir)
    suite_file = suite_dir / "suite.yaml" if suite_dir.is_dir() else suite_dir
    if not suite_dir.exists():
        raise LoadError("suite directory not found", where=str(suite_dir))
    doc = load_yaml(suite_file)
    suite, pact_name = parse_suite(doc)
    pact_path = suite_file.parent / pact_name
    pact_doc = load_yaml(pact_path)
    pact = parse_pact(pact_doc)
    bound, warnings = bind_suite(pact, suite, doc)
    warnings = pact_doc.cut_warnings() + doc.cut_warnings() + warnings
    plan = Plan(
        pact=pact,
        suite=suite,
        suite_dir=suite_file.parent,
        checks=bound,
        warnings=tuple(warnings),
        suite_file=None if suite_dir.is_dir() else suite_file,
    )
    if adversarial and isinstance(doc.data, dict) and "adversarial" in doc.data:
        from harness.adversarial import apply_block

        plan = apply_block(plan, doc)
    return plan


def is_unfilled(value: Any) -> bool:
    """A TODO placeholder: the string TODO (or `TODO: ...`), or a list or mapping holding one."""
    if isinstance(value, str):
        return value == TODO or value.startswith(TODO + ":")
    if isinstance(value, list):
        return any(is_unfilled(v) for v in value)
    if isinstance(value, dict):
        return any(is_unfilled(v) for v in value.values())
    return False
