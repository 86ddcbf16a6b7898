"""YAML loading that remembers where every value came from, so errors can name the file, line and field."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ConfigError, LoadError

Loc = tuple[Any, ...]


@dataclass(frozen=True)
class YamlDoc:
    """Plain data from a YAML file plus the line of every key path (1-based)."""

    path: Path
    data: Any
    lines: dict[Loc, int] | None  # None: loaded by the JSON fast path; found by reading the file again when needed
    # Unquoted string values that a `#` on their line cut short: (location, line, value kept, comment dropped)
    cut_scalars: tuple[tuple[Loc, int, str, str], ...] = ()
    # The lines of a fast-path document, once an error or warning needed them (found once, not per message).
    _found: dict[str, dict[Loc, int]] = field(default_factory=dict, repr=False, compare=False)

    def cut_warnings(self) -> list[str]:
        """One warning per value a `#` probably truncated (`input: receipt #A123` reads as 'receipt')."""
        return [
            f"{self.path}:{line}: {format_loc(loc)}: unquoted ' #' starts a YAML comment, so the value is "
            f"{value!r} and {comment!r} is dropped; quote the value if the '#' belongs to it"
            for loc, line, value, comment in self.cut_scalars
        ]

    def where(self, loc: Loc) -> str:
        """`file:line: field` for a location (the nearest enclosing line when the exact one is unknown)."""
        loc = tuple(loc)
        lines = self.lines
        if lines is None:
            if "lines" not in self._found:
                self._found["lines"] = _lines_of(self.path)
            lines = self._found["lines"]
        probe = loc
        while probe and probe not in lines:
            probe = probe[:-1]
        line = lines.get(probe, 1)
        field = format_loc(loc)
        return f"{self.path}:{line}" + (f": {field}" if field else "")

    def error(self, loc: Loc, message: str) -> ConfigError:
        return ConfigError(message, where=self.where(loc))


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = str(part) if str(part).isprintable() else repr(part)  # a key of control characters, shown safely
            out += ("." if out else "") + text
    return out


# libyaml's loader is ~10x faster on big suites and keeps the same node marks; pure Python is the fallback.
class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    pass


MAX_YAML_BYTES = 16 * 1024 * 1024  # a suite of many thousand cases is a few MiB; beyond this is a mistake or an attack
MAX_ALIAS_NODES = 10_000  # nodes an alias may stand for, all aliases together: a "billion laughs" stops here
MAX_DEPTH = 200  # nesting deeper than this is no suite, and would exhaust the recursion below


@dataclass
class _Budget:
    """What building one document may still spend (a node met a second time is an alias being expanded),
    and what it noticed on the way."""

    seen: set[int]
    lines: list[str] = field(default_factory=list)
    alias_nodes: int = 0
    cuts: list[tuple[Loc, int, str, str]] = field(default_factory=list)


_STR_TAG = "tag:yaml.org,2002:str"


def _note_cut(node: yaml.ScalarNode, loc: Loc, budget: _Budget) -> None:
    """Remember a plain string value followed by a comment that looks like part of it: a `#` glued to a word
    (`receipt #A123`) or one space from the value. Comments people mean are mostly `value  # words`."""
    if node.style not in (None, "") or node.tag != _STR_TAG or not loc:  # libyaml says "" for plain, PyYAML None
        return
    line = node.end_mark.line
    if line >= len(budget.lines):
        return
    m = re.match(r"([ \t]+)(#.*)", budget.lines[line][node.end_mark.column :])
    if m and (len(m[1]) == 1 or (len(m[2]) > 1 and not m[2][1].isspace())):
        budget.cuts.append((loc, line + 1, node.value, m[2].rstrip()))


def _build(
    node: yaml.Node,
    loc: Loc,
    lines: dict[Loc, int],
    doc_path: Path,
    loader: _Loader,
    budget: _Budget,
    in_alias: bool = False,
) -> Any:
    if len(loc) > MAX_DEPTH:
        raise LoadError(f"nesting deeper than {MAX_DEPTH} levels", where=f"{doc_path}:{node.start_mark.line + 1}")
    in_alias = in_alias or id(node) in budget.seen
    budget.seen.add(id(node))
    if in_alias:
        budget.alias_nodes += 1
        if budget.alias_nodes > MAX_ALIAS_NODES:
            # Refused while building, before the expansion exists: counting costs at most the bound itself.
            raise LoadError(
                f"YAML aliases expand to more than {MAX_ALIAS_NODES} nodes (an alias bomb?)",
                where=f"{doc_path}:{node.start_mark.line + 1}",
            )
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key == "<<":
                raise LoadError(
                    "YAML merge keys (<<) are not supported", where=f"{doc_path}:{key_node.start_mark.line + 1}"
                )
            if key in out:
                raise LoadError(
                    f"duplicate key {key!r}",
                    where=f"{doc_path}:{key_node.start_mark.line + 1}: {format_loc(loc + (key,))}",
                )
            lines[loc + (key,)] = key_node.start_mark.line + 1
            out[key] = _build(value_node, loc + (key,), lines, doc_path, loader, budget, in_alias)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(item, loc + (i,), lines, doc_path, loader, budget, in_alias) for i, item in enumerate(node.value)
        ]
    if not in_alias and isinstance(node, yaml.ScalarNode):
        _note_cut(node, loc, budget)
    return loader.construct_object(node, deep=True)


def _check_depth(text: str, path: Path) -> None:
    """Refuse deep nesting from the event stream, before composing: libyaml's composer recurses in C, and
    `[[[[...` a hundred thousand deep crashes the interpreter instead of raising."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    line = f":{event.start_mark.line + 1}" if event.start_mark else ""
                    raise LoadError(f"nesting deeper than {MAX_DEPTH} levels", where=f"{path}{line}")
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.YAMLError:
        return  # composing reports it, with its line


# What YAML refuses anywhere in a stream, quoted or not (PyYAML's reader); JSON would let it through.
_NON_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


# JSON joins an escaped surrogate pair into one character; YAML reads each escape alone.
_SURROGATE = re.compile(r"\\u[dD][89abAB]")


class _NotPlainJson(ValueError):
    """The text is not JSON that reads the same as YAML: the YAML loader takes it (and names any error's line)."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs) or "<<" in out:
        raise _NotPlainJson("a duplicate or merge key")
    return out


def _yaml_float(text: str) -> float:
    # YAML 1.1 (PyYAML's) reads 1e5 and 1.0e5 as strings: a float needs a dot and a signed exponent
    if "." not in text or re.search(r"[eE][0-9]", text):
        raise _NotPlainJson("a float YAML reads otherwise")
    return float(text)


def _not_constant(text: str) -> Any:
    raise _NotPlainJson(text)


def _deeper_than(data: Any, limit: int) -> bool:
    stack = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(value, dict):
            stack += [(v, depth + 1) for v in value.values()]
        elif isinstance(value, list):
            stack += [(v, depth + 1) for v in value]
    return False


def _fast_json(text: str, path: Path) -> YamlDoc | None:
    """A suite written as JSON (generated suites of many thousand cases usually are), read by the json module:
    YAML's composer builds a node per value first, ~3x the memory and 5x the time. Only where YAML would read the
    same data; line numbers are found by the YAML loader if an error needs one."""
    if not text.lstrip().startswith(("{", "[")) or _NON_PRINTABLE.search(text) or _SURROGATE.search(text):
        return None
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates, parse_float=_yaml_float, parse_constant=_not_constant)
    except (ValueError, RecursionError):
        return None
    if data is None or _deeper_than(data, MAX_DEPTH):
        return None
    return YamlDoc(path=path, data=data, lines=None)


def _lines_of(path: Path) -> dict[Loc, int]:
    try:
        lines = load_yaml(path, fast=False).lines
    except LoadError:
        return {}
    return lines or {}


def load_yaml(path: Path, fast: bool = True) -> YamlDoc:
    """Read one YAML document; missing, unreadable, empty or malformed files raise LoadError."""
    path = Path(path)
    try:
        if path.is_file() and path.stat().st_size > MAX_YAML_BYTES:
            raise LoadError(f"file is larger than {MAX_YAML_BYTES // (1024 * 1024)} MiB", where=str(path))
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LoadError("file not found", where=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadError(f"cannot read file ({exc.__class__.__name__}: {exc})", where=str(path)) from None
    doc = _fast_json(text, path) if fast else None
    if doc is not None:
        return doc
    _check_depth(text, path)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except RecursionError:
        raise LoadError(f"nesting deeper than {MAX_DEPTH} levels", where=str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise LoadError(f"invalid YAML: {problem}", where=f"{path}{line}") from None
    if node is None:
        raise LoadError("file is empty", where=str(path))
    lines: dict[Loc, int] = {}
    try:
        budget = _Budget(seen=set(), lines=text.splitlines())
        data = _build(node, (), lines, path, loader, budget)
    except RecursionError:  # a key built from a deeply nested alias
        raise LoadError(f"nesting deeper than {MAX_DEPTH} levels", where=str(path)) from None
    except yaml.YAMLError as exc:
        raise LoadError(f"invalid YAML value: {exc}".splitlines()[0], where=str(path)) from None
    finally:
        loader.dispose()
    return YamlDoc(path=path, data=data, lines=lines, cut_scalars=tuple(budget.cuts))
