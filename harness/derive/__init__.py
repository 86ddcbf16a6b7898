"""`pactjury derive`: a skeleton suite of probes for every clause of a pact, from templates and optionally from an
attacker model.

Templates read each clause's verify method and checks: `when:` / `unless:` keys are the clause's trigger
(must-refuse, must-trigger and must-not-trigger probes set them), leak checks get PII bait, output-format
checks get format pressure, jury clauses get tone pressure, and every clause gets a compliant and a boundary
probe. Where the suite beside the pact has cases, probes are built on their requests and context documents,
and expectations a probe cannot have changed are copied from the case it was built on; every other
expectation is written `TODO` (typed to bind: a list where the check needs one), and validation warns until
the author fills it in. The attacker model proposes more cases per clause as JSON; malformed proposals are
skipped and counted. Duplicates (normalised text) are dropped, against each other and the hand-written cases.
"""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.derive.attacker import ATTACKER_SYSTEM, attacker_probes, attacker_prompt, parse_proposals, proposal_probe
from harness.derive.probes import BAIT, Probe, Stats, fill_placeholders, keys_of, probe_kinds, template_probes
from harness.errors import LoadError
from harness.suite import TODO
from harness.types import Case, Pact

__all__ = [
    "ATTACKER_SYSTEM",
    "BAIT",
    "Probe",
    "Source",
    "Stats",
    "attacker_probes",
    "attacker_prompt",
    "derive",
    "fill_placeholders",
    "keys_of",
    "parse_proposals",
    "probe_kinds",
    "proposal_probe",
    "read_source",
    "render",
    "template_probes",
]


# ---------------------------------------------------------------- the suite file


def normalise(text: Any) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", _text_any(text).lower()).split())


def _text_any(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return "\n".join(m.content if hasattr(m, "content") else str(m.get("content", "")) for m in value)
    return str(value)


@dataclass
class Source:
    pact: Pact
    pact_path: Path
    suite_id: str
    system: str | None
    cases: list[Case]


def read_source(suite_dir: Path) -> Source:
    """The pact, and the hand-written suite beside it when there is one (its system prompt, cases)."""
    from harness.pact import load_pact
    from harness.suite import parse_suite
    from harness.yamlio import load_yaml

    suite_dir = Path(suite_dir)
    if not suite_dir.is_dir():
        raise LoadError("suite directory not found", where=str(suite_dir))
    suite_file = suite_dir / "suite.yaml"
    if suite_file.exists():
        doc = load_yaml(suite_file)
        suite, pact_name = parse_suite(doc)
        pact_path = suite_dir / pact_name
        raw_system = doc.data.get("system") if isinstance(doc.data, dict) else None
        return Source(load_pact(pact_path), pact_path, suite.id, raw_system, list(suite.cases))
    pact_path = suite_dir / "pact.yaml"
    pact = load_pact(pact_path)
    return Source(pact, pact_path, pact.id, None, [])


def derive(
    source: Source, per_clause: int, seed: int, attacker: list[Probe] | None = None, stats: Stats | None = None
) -> tuple[list[dict[str, Any]], Stats]:
    """The derived cases (as suite.yaml entries, with a `_note` comment each) for every clause."""
    stats = stats or Stats()
    rng = random.Random(f"pactjury-derive:{seed}")
    probes: list[Probe] = []
    for clause in source.pact.clauses:
        probes += template_probes(clause, source.cases, per_clause, rng)
    stats.templates = len(probes)
    probes += attacker or []
    seen = {(c, normalise(case.input)) for case in source.cases for c in case.clause_ids}
    entries: list[dict[str, Any]] = []
    counters: dict[str, int] = {}
    for p in probes:
        key = (p.clause.id, normalise(p.input))
        if key in seen:
            stats.duplicates += 1
            continue
        seen.add(key)
        expected, unfilled = fill_placeholders(p.clause, p.expected)
        stats.unfilled += unfilled
        if p.origin == "attacker":
            stats.accepted += 1
        stem = f"{'attacker' if p.origin == 'attacker' else 'derived'}-{p.clause.id}-{p.kind}"
        counters[stem] = counters.get(stem, 0) + 1
        entry: dict[str, Any] = {
            "_note": p.note,
            "id": stem + (f"-{counters[stem]}" if counters[stem] > 1 else ""),
            "clauses": [p.clause.id],
            "input": p.input,
        }
        if p.context:
            entry["context"] = p.context
        entry["expected"] = expected
        entry["tags"] = ["derived", *(["attacker"] if p.origin == "attacker" else []), p.kind]
        entries.append(entry)
    return entries, stats


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, so inputs and documents read as they were written."""


def _str(dumper: Any, value: str) -> Any:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render(source: Source, entries: list[dict[str, Any]], out: Path, stats: Stats, command: str) -> str:
    pact_ref = os.path.relpath(source.pact_path.resolve(), out.resolve().parent)
    if pact_ref.startswith(os.path.join(os.pardir, os.pardir)):  # far away: an absolute path reads better
        pact_ref = str(source.pact_path.resolve())
    head = {
        "id": f"{source.suite_id}-derived",
        "pact": pact_ref,
        "description": f"Probes derived from pact {source.pact.id} v{source.pact.version} by pactjury derive: "
        "review every input and fill in every TODO expectation before relying on them.",
    }
    if source.system:
        head["system"] = source.system
    lines = [
        f"# Derived by: {command}",
        f"# {len(entries)} cases: {stats.templates} from templates, {stats.accepted} from the attacker model; "
        f"{stats.duplicates} duplicates and {stats.malformed} malformed proposals dropped.",
        f"# Expectations written {TODO} are unfilled: `pactjury validate` warns (--strict fails) until they are set.",
        yaml.dump(head, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120).rstrip(),
        "cases:",
    ]
    for entry in entries:
        note = entry.pop("_note")
        lines.append(f"  # {entry['tags'][-1]}: {note}")
        body = yaml.dump([entry], Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)
        lines.append("\n".join("  " + ln if ln else ln for ln in body.rstrip().splitlines()))
    return "\n".join(lines) + "\n"
