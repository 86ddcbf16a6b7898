"""A promptfoo config (prompts, providers, tests with vars and assert, defaultTest) into a pact skeleton and suite.

Deterministic assertion types become our checks (harness/checks/), model-graded ones jury clauses; every
assertion gets a clause named after its type (numbered when a test repeats a type) whose check reads the
test's value from the case's expectations, so one clause serves every test that asserts it. What cannot be
mapped (javascript, python, similar, ...) is listed, never dropped silently.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from jinja2.sandbox import SandboxedEnvironment

from harness.errors import ConfigError, LoadError
from harness.importers import Imported, skeleton_pact, slug, unique_ids
from harness.yamlio import YamlDoc, load_yaml

# promptfoo type -> (our check, the parameter its value fills; "" when it takes none)
DETERMINISTIC: dict[str, tuple[str, str]] = {
    "equals": ("equals", "value"),
    "contains": ("contains", "value"),
    "icontains": ("icontains", "value"),
    "contains-any": ("contains", "values"),
    "contains-all": ("contains", "values"),
    "icontains-any": ("icontains", "values"),
    "icontains-all": ("icontains", "values"),
    "starts-with": ("starts-with", "value"),
    "regex": ("regex", "pattern"),
    "is-json": ("json-valid", ""),
    "contains-json": ("json-valid", ""),
    "latency": ("latency-max", "ms"),
    "cost": ("cost-max", "usd"),
}
CLAIMS = {  # what each deterministic clause asserts, in words (its report line)
    "equals": "The response equals the test's expected.{key}.",
    "contains": "The response contains the test's expected.{key}.",
    "icontains": "The response contains the test's expected.{key}, ignoring case.",
    "contains-any": "The response contains at least one of the test's expected.{key}.",
    "contains-all": "The response contains every one of the test's expected.{key}.",
    "icontains-any": "The response contains at least one of the test's expected.{key}, ignoring case.",
    "icontains-all": "The response contains every one of the test's expected.{key}, ignoring case.",
    "starts-with": "The response starts with the test's expected.{key}.",
    "regex": "The response matches the test's regular expression expected.{key}.",
    "is-json": "The response is valid JSON.",
    "contains-json": "The response is valid JSON.",
    "latency": "The response arrives within the test's expected.{key} milliseconds.",
    "cost": "The call costs at most the test's expected.{key} US dollars.",
}
SCHEMA_CLAIM = "The response is JSON valid against the test's schema expected.{key}."
# model-graded types -> the jury clause's claim ({value} is the assertion's value)
JURY: dict[str, str] = {
    "llm-rubric": "{value}",
    "g-eval": "{value}",
    "model-graded-closedqa": "The response meets this criterion: {value}",
    "factuality": (
        "The response is factually consistent with the reference answer in the test's notes "
        "(expected.{key}): it may add detail, but must not contradict it."
    ),
    "answer-relevance": "The response addresses the question that was asked (see the answer-relevancy rubric preset).",
    "context-faithfulness": "Every claim in the response is supported by the context documents (see the "
    "faithfulness rubric preset).",
}
PER_CASE_JURY = {"factuality"}  # the value is the case's reference, not the clause's claim
TOP_KEYS = {"description", "prompts", "providers", "tests", "defaultTest", "outputPath", "sharing", "env"}
ASSERT_KEYS = {"type", "value", "threshold"}
_ENV = SandboxedEnvironment(autoescape=False, keep_trailing_newline=False)


def _render(template: str, variables: dict[str, Any], where: str) -> str:
    """promptfoo's Nunjucks {{ var }}, rendered with Jinja (the same syntax for variables and most filters)."""
    try:
        return _ENV.from_string(template).render(**variables)
    except Exception as exc:  # a template error names where it is; the import stops before writing anything
        raise ConfigError(f"cannot render template ({type(exc).__name__}: {exc})", where=where) from None


def _prompt(doc: YamlDoc, base: Path, unmapped: list[str]) -> tuple[Any, str]:
    """The first prompt (a string, or chat messages from a file:// .json/.yaml) and where it came from."""
    prompts = doc.data.get("prompts")
    if isinstance(prompts, str | dict):
        prompts = [prompts]
    if not isinstance(prompts, list) or not prompts:
        unmapped.append("prompts: none given; each case's input is its vars, one `name: value` line each")
        return None, "prompts"
    for i, extra in enumerate(prompts[1:], 1):
        unmapped.append(
            f"prompts[{i}]: {_short(extra)} (only the first prompt becomes the case input; "
            "import again with that prompt first)"
        )
    first = prompts[0]
    if isinstance(first, dict):
        first = first.get("raw") or first.get("id")
    if not isinstance(first, str):
        raise doc.error(("prompts", 0), "a prompt must be a string, file:// reference or {raw: ...}")
    if not first.startswith("file://"):
        return first, doc.where(("prompts", 0))
    path = base / first[len("file://") :]
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        raise doc.error(("prompts", 0), f"prompt file {path} cannot be read") from None
    if path.suffix in (".json", ".yaml", ".yml"):
        chat = json.loads(text) if path.suffix == ".json" else load_yaml(path).data
        if not (isinstance(chat, list) and all(isinstance(m, dict) and "content" in m for m in chat)):
            raise doc.error(("prompts", 0), f"{path}: a chat prompt must be a list of {{role, content}} messages")
        return chat, str(path)
    return text, str(path)


def _tests(doc: YamlDoc, base: Path) -> list[Any]:
    tests = doc.data.get("tests")
    if isinstance(tests, str) and tests.startswith("file://") and tests.endswith((".yaml", ".yml")):
        tests = load_yaml(base / tests[len("file://") :]).data
    if isinstance(tests, str):
        raise doc.error(
            ("tests",),
            f"{tests}: only inline tests or a file:// YAML list are imported "
            "(for a CSV of tests use `pactjury import csv`)",
        )
    if not isinstance(tests, list) or not tests:
        raise doc.error(("tests",), "tests must be a non-empty list of {vars, assert}")
    return tests


def _expand(variables: dict[str, Any]) -> list[dict[str, Any]]:
    """promptfoo runs a test once per combination of its list-valued vars."""
    keys = [k for k, v in variables.items() if isinstance(v, list)]
    if not keys:
        return [variables]
    return [{**variables, **dict(zip(keys, combo))} for combo in itertools.product(*(variables[k] for k in keys))]


def _compose(variables: dict[str, Any], where: str) -> dict[str, Any]:
    """Vars may use other vars ({{topic}} inside `item`), as promptfoo renders them."""
    return {k: _render(v, variables, where) if isinstance(v, str) and "{" in v else v for k, v in variables.items()}


class _Builder:
    """Collects clauses across tests: one per (assertion type, occurrence in a test), jury ones per claim."""

    def __init__(self) -> None:
        self.clauses: dict[str, dict[str, Any]] = {}
        self.jury_claims: dict[str, str] = {}  # claim text -> clause id
        self.notes: set[str] = set()

    def add(
        self, kind: str, negate: bool, value: Any, threshold: Any, taken: dict[str, int]
    ) -> tuple[str, dict[str, Any]]:
        """The clause id for this assertion, and the expectations the case must carry for it."""
        if kind in JURY and kind not in PER_CASE_JURY:
            return self._jury(kind, str(value or "").strip()), {}
        base = ("not-" if negate else "") + kind + ("-schema" if kind == "is-json" and value else "")
        taken[base] = taken.get(base, 0) + 1
        cid = base if taken[base] == 1 else f"{base}-{taken[base]}"
        key = cid.replace("-", "_")
        if kind in PER_CASE_JURY:
            self.clauses.setdefault(
                cid,
                {
                    "id": cid,
                    "claim": JURY[kind].format(key=key),
                    "verify": "jury",
                    "threshold": 1.0,
                    "severity": "major",
                },
            )
            return cid, {key: value}
        check, param = DETERMINISTIC[kind]
        spec: dict[str, Any] = {"check": check}
        if negate:
            spec["negate"] = True
        expected: dict[str, Any] = {}
        if kind == "is-json" and value:
            check, param = "json-schema", "schema"
            spec["check"] = check
        if kind in ("latency", "cost"):
            value = threshold
        if param:
            spec[param] = {"expected": key}
            expected[key] = [str(v) for v in value] if param == "values" else value
        if kind.endswith("-any"):
            spec["mode"] = "any"
        elif kind.endswith("-all"):
            spec["mode"] = "all"
        if kind == "contains-json":
            self.notes.add("contains-json -> json-valid: stricter, the whole response must be JSON")
        if kind == "equals" and not isinstance(value, str):
            self.notes.add("equals with a non-string value compares the response parsed as JSON")
        said = SCHEMA_CLAIM if check == "json-schema" else CLAIMS[kind]
        claim = ("It is not the case that: " if negate else "") + said.format(key=key)
        self.clauses.setdefault(
            cid,
            {
                "id": cid,
                "claim": claim,
                "verify": "deterministic",
                "threshold": 1.0,
                "severity": "major",
                "checks": [spec],
            },
        )
        return cid, expected

    def _jury(self, kind: str, text: str) -> str:
        claim = JURY[kind].format(value=text)
        if claim not in self.jury_claims:
            n = sum(1 for c in self.clauses.values() if c["id"].startswith(kind))
            cid = kind if n == 0 else f"{kind}-{n + 1}"
            self.jury_claims[claim] = cid
            self.clauses[cid] = {"id": cid, "claim": claim, "verify": "jury", "threshold": 1.0, "severity": "major"}
        return self.jury_claims[claim]


def _short(value: Any, limit: int = 70) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _assertions(
    raw: list[tuple[tuple[Any, ...], Any]],
    doc: YamlDoc,
    variables: dict[str, Any],
    builder: _Builder,
    unmapped: list[str],
) -> tuple[list[str], dict[str, Any]]:
    """Each (location, assertion) into a clause id and the case's expectations for it."""
    clauses: list[str] = []
    expected: dict[str, Any] = {}
    taken: dict[str, int] = {}
    for loc, a in raw:
        at = f"{loc[0]}[{loc[1]}].assert[{loc[3]}]" if loc[0] == "tests" else f"defaultTest.assert[{loc[2]}]"
        if not isinstance(a, dict) or not isinstance(a.get("type"), str):
            raise doc.error(loc, "an assertion must be a mapping with a type")
        kind = a["type"]
        negate = kind.startswith("not-")
        base = kind[4:] if negate else kind
        for extra in sorted(set(a) - ASSERT_KEYS):
            unmapped.append(f"{at}.{extra}: {_short(a[extra])} (no counterpart; ignored)")
        if base not in DETERMINISTIC and base not in JURY or (negate and base in JURY):
            unmapped.append(
                f"{at}: type {kind}"
                + (f" {_short(a.get('value'))}" if a.get("value") is not None else "")
                + " (no deterministic check or jury clause does this)"
            )
            continue
        value = a.get("value")
        if isinstance(value, str):
            value = _render(value, variables, doc.where(loc))
        elif isinstance(value, list):
            value = [_render(v, variables, doc.where(loc)) if isinstance(v, str) else v for v in value]
        if base in ("latency", "cost") and a.get("threshold") is None:
            unmapped.append(f"{at}: type {kind} without a threshold (nothing to compare)")
            continue
        cid, exp = builder.add(base, negate, value, a.get("threshold"), taken)
        clauses.append(cid)
        expected.update(exp)
    return list(dict.fromkeys(clauses)), expected


def _input(prompt: Any, variables: dict[str, Any], where: str) -> tuple[Any, str | None]:
    """(input, system): the prompt rendered with the vars; chat prompts give messages and a system prompt."""
    if prompt is None:
        return "\n".join(f"{k}: {v}" for k, v in variables.items()), None
    if isinstance(prompt, str):
        return _render(prompt, variables, where), None
    messages = [
        {"role": m.get("role", "user"), "content": _render(str(m["content"]), variables, where)} for m in prompt
    ]
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system") or None
    rest = [m for m in messages if m["role"] != "system"]
    return (rest[0]["content"] if len(rest) == 1 and rest[0]["role"] == "user" else rest), system


def import_promptfoo(path: Path, name: str) -> Imported:
    """Map a promptfoo config; raises ConfigError (file and field) on a config it cannot read."""
    if not path.is_file():
        raise LoadError("file not found", where=str(path))
    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise doc.error((), "a promptfoo config must be a mapping with prompts and tests")
    unmapped: list[str] = []
    for key in sorted(set(doc.data) - TOP_KEYS):
        unmapped.append(f"{key}: {_short(doc.data[key])} (not a part of a suite)")
    prompt, prompt_where = _prompt(doc, path.parent, unmapped)
    default = doc.data.get("defaultTest") or {}
    if not isinstance(default, dict):
        raise doc.error(("defaultTest",), "defaultTest must be a mapping (vars, assert, options)")
    for key in sorted(set(default) - {"vars", "assert"}):
        unmapped.append(f"defaultTest.{key}: {_short(default[key])} (no counterpart; ignored)")
    builder = _Builder()
    cases: list[dict[str, Any]] = []
    ids: list[str] = []
    for i, test in enumerate(_tests(doc, path.parent)):
        where = f"tests[{i}]"
        if not isinstance(test, dict):
            raise doc.error(("tests", i), "each test must be a mapping with vars and assert")
        ignored = {k: v for k, v in test.items() if k not in ("vars", "assert", "description", "options")}
        ignored.update(
            {f"options.{k}": v for k, v in (test.get("options") or {}).items() if k != "disableDefaultAsserts"}
        )
        for key, value in ignored.items():
            unmapped.append(f"{where}.{key}: {_short(value)} (no counterpart; ignored)")
        raw_vars = {**(default.get("vars") or {}), **(test.get("vars") or {})}
        inherit = not (test.get("options") or {}).get("disableDefaultAsserts")
        asserts = [
            *((("defaultTest", "assert", j), a) for j, a in enumerate(default.get("assert") or []) if inherit),
            *((("tests", i, "assert", j), a) for j, a in enumerate(test.get("assert") or [])),
        ]
        for n, combo in enumerate(_expand(raw_vars)):
            variables = _compose(combo, doc.where(("tests", i, "vars")))
            clauses, expected = _assertions(asserts, doc, variables, builder, unmapped)
            if not clauses:
                unmapped.append(f"{where}: no assertion could be mapped; the case is left out")
                continue
            text, system = _input(prompt, variables, prompt_where)
            case: dict[str, Any] = {"id": "", "clauses": clauses, "input": text}
            if system:
                case["system"] = system
            if expected:
                case["expected"] = expected
            ids.append(slug(str(test.get("description") or ""), f"test-{i + 1:03d}") + (f"-{n + 1}" if n else ""))
            cases.append(case)
    if not cases:
        raise doc.error(("tests",), "no test had an assertion that could be mapped: nothing to import")
    for case, cid in zip(cases, unique_ids(ids)):
        case["id"] = cid
    providers = doc.data.get("providers")
    notes = sorted(builder.notes)
    if providers:
        notes.append(
            f"providers {_short(providers)}: run with --target, e.g. a litellm model name (openai/gpt-4o-mini)"
        )
    description = str(doc.data.get("description") or f"Imported from the promptfoo config {path.name}.")
    pact = skeleton_pact(name, list(builder.clauses.values()), description)
    suite = {"id": name, "pact": "pact.yaml", "description": description, "cases": cases}
    return Imported(
        source=path,
        kind="promptfoo",
        pact=pact,
        suite=suite,
        unmapped=tuple(dict.fromkeys(unmapped)),
        notes=tuple(notes),
    )
