"""Importers: existing datasets (CSV, JSONL, a promptfoo config) into a pact skeleton and a suite.yaml."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ConfigError

PACT_FILE, SUITE_FILE = "pact.yaml", "suite.yaml"
_SLUG_JUNK = re.compile(r"[^A-Za-z0-9_.\-]+")


@dataclass(frozen=True)
class Imported:
    """What an importer made: the pact and suite as plain data, and what it could not carry over."""

    source: Path
    kind: str
    pact: dict[str, Any]
    suite: dict[str, Any]
    unmapped: tuple[str, ...] = ()  # each "where: what (why)", printed and kept as comments in suite.yaml
    notes: tuple[str, ...] = field(default=())  # mapped, but not one to one (e.g. a stricter check)


def slug(text: str, fallback: str) -> str:
    """An id made of the characters ids allow; `fallback` when nothing is left."""
    out = _SLUG_JUNK.sub("-", text.strip()).strip("-._")[:60].strip("-._")
    return out or fallback


def unique_ids(ids: list[str]) -> list[str]:
    """The ids with repeats numbered (`a`, `a-2`, ...), so every case id stays unique."""
    seen: dict[str, int] = {}
    out = []
    for i in ids:
        seen[i] = seen.get(i, 0) + 1
        out.append(i if seen[i] == 1 else f"{i}-{seen[i]}")
    return out


def skeleton_pact(name: str, clauses: list[dict[str, Any]], description: str) -> dict[str, Any]:
    """A pact around imported clauses; owner and tier are placeholders to review."""
    return {
        "id": name,
        "version": "0.1.0",
        "tier": "medium",
        "owner": "TODO",
        "description": description,
        "freshness": "30d",
        "clauses": clauses,
        "consequences": [
            {"when": {"severity": "critical", "status": "breached"}, "action": "suspend"},
            {"when": {"status": "breached"}, "action": "restrict"},
            {"action": "approve"},
        ],
    }


def _comment(lines: list[str]) -> str:
    # one comment line per item: a line break inside an item must not end the comment
    return "".join(f"# {' '.join(line.splitlines())}\n" for line in lines)


def _suite_text(imp: Imported, command: str) -> str:
    head = [
        f"Imported by `{command}`.",
        "Review the pact's owner, tier, severities and thresholds before relying on it.",
    ]
    if imp.notes:
        head += ["Mapped, but not one to one:"] + [f"  - {n}" for n in imp.notes]
    if imp.unmapped:
        head += ["Not mapped (left out of this suite):"] + [f"  - {u}" for u in imp.unmapped]
    else:
        head += ["Everything in the source was mapped."]
    return _comment(head) + _dump(imp.suite)


def _dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110, default_flow_style=False)


def write_suite(imp: Imported, out: Path, *, force: bool, command: str) -> list[Path]:
    """Write OUT/pact.yaml and OUT/suite.yaml, both or neither; existing files only with force."""
    targets = [out / PACT_FILE, out / SUITE_FILE]
    existing = [p for p in targets if p.exists()]
    if existing and not force:
        raise ConfigError(f"{existing[0]} exists; use --force to overwrite it")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: not a directory")
    texts = [_comment([f"Pact skeleton imported by `{command}`."]) + _dump(imp.pact), _suite_text(imp, command)]
    try:
        out.mkdir(parents=True, exist_ok=True)
        temps = []
        for path, text in zip(targets, texts):
            temp = path.with_name(f".{path.name}.importing")
            temp.write_text(text, encoding="utf-8")
            temps.append(temp)
        for temp, path in zip(temps, targets):
            os.replace(temp, path)
    except OSError as exc:
        raise ConfigError(f"{out}: cannot write the suite ({exc.strerror})") from None
    return targets


def _tabular(kind: str) -> Callable[..., Imported]:
    def load(path: Path, name: str, **options: Any) -> Imported:
        from harness.importers.tabular import import_rows

        return import_rows(kind, path, name, **options)

    return load


def _promptfoo(path: Path, name: str, **options: Any) -> Imported:
    from harness.importers.promptfoo import import_promptfoo

    return import_promptfoo(path, name)


IMPORTERS: dict[str, Callable[..., Imported]] = {
    "csv": _tabular("csv"),
    "jsonl": _tabular("jsonl"),
    "promptfoo": _promptfoo,
}


def importer(kind: str) -> Callable[..., Imported]:
    try:
        return IMPORTERS[kind]
    except KeyError:
        raise ConfigError(f"unknown import format {kind!r}; valid formats: {', '.join(sorted(IMPORTERS))}") from None
