"""YAML loading that remembers where every value came from, so errors can name the file, line and field."""

from __future__ import annotations

from dataclasses import dataclass
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
    lines: dict[Loc, int]

    def where(self, loc: Loc) -> str:
        """`file:line: field` for a location (the nearest enclosing line when the exact one is unknown)."""
        loc = tuple(loc)
        probe = loc
        while probe and probe not in self.lines:
            probe = probe[:-1]
        line = self.lines.get(probe, 1)
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
            out += ("." if out else "") + str(part)
    return out


# libyaml's loader is ~10x faster on big suites and keeps the same node marks; pure Python is the fallback.
class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    pass


def _build(node: yaml.Node, loc: Loc, lines: dict[Loc, int], doc_path: Path, loader: _Loader) -> Any:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key == "<<":
                raise LoadError("YAML merge keys (<<) are not supported", where=f"{doc_path}:{key_node.start_mark.line + 1}")
            if key in out:
                raise LoadError(
                    f"duplicate key {key!r}", where=f"{doc_path}:{key_node.start_mark.line + 1}: {format_loc(loc + (key,))}"
                )
            lines[loc + (key,)] = key_node.start_mark.line + 1
            out[key] = _build(value_node, loc + (key,), lines, doc_path, loader)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, loc + (i,), lines, doc_path, loader) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def load_yaml(path: Path) -> YamlDoc:
    """Read one YAML document; missing, unreadable, empty or malformed files raise LoadError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LoadError("file not found", where=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadError(f"cannot read file ({exc.__class__.__name__}: {exc})", where=str(path)) from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise LoadError(f"invalid YAML: {problem}", where=f"{path}{line}") from None
    if node is None:
        raise LoadError("file is empty", where=str(path))
    lines: dict[Loc, int] = {}
    try:
        data = _build(node, (), lines, path, loader)
    except yaml.YAMLError as exc:
        raise LoadError(f"invalid YAML value: {exc}".splitlines()[0], where=str(path)) from None
    finally:
        loader.dispose()
    return YamlDoc(path=path, data=data, lines=lines)
