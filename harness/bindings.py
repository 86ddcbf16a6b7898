"""Where scheduled suites are and whom they run against: the folder walk (symlinks followed, cycles not) and
`schedule.yaml` files, which bind each suite to its agents and targets for `run --due` and `due`.

A `schedule.yaml` in a suite's folder binds that suite; one in a folder above names its suites (`suite:`, a
folder relative to the file). Relative paths in it (a `python:` target's file, `target_system`, `target_schema`,
a panel file) are relative to the file's folder, so cron may run from anywhere.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

SCHEDULE_FILE = "schedule.yaml"
TOP_KEYS = ("runs",)
RUN_KEYS = (
    "suite",
    "agent",
    "agent_version",
    "target",
    "target_base_url",
    "target_api_key_env",
    "target_system",
    "target_schema",
    "panel",
)
REQUIRED = ("agent", "target")


@dataclass(frozen=True)
class Binding:
    """One suite run against one agent's target, as a schedule file states it."""

    suite_dir: Path  # real path (symlinks resolved): the key a found suite is matched by
    agent: str
    target: str
    where: str  # file:line of the entry, for messages
    agent_version: str | None = None
    target_base_url: str | None = None
    target_api_key_env: str | None = None
    target_system: Path | None = None
    target_schema: Path | None = None
    panel: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(
            agent=self.agent,
            agent_version=self.agent_version,
            target=self.target,
            panel=self.panel,
            schedule=self.where,
        )


@dataclass(frozen=True)
class Tree:
    """The suite folders under a root (as reached, symlinks kept in the path) and its schedule files."""

    suites: tuple[Path, ...]
    schedules: tuple[Path, ...]


def walk(root: Path) -> Tree:
    """Every folder under `root` holding a suite.yaml or a schedule.yaml, each real folder once.

    Symlinked folders are followed, but only after every folder reachable without one, so a suite that is both
    linked and present is listed by its own path; a link back up (a cycle) reaches an already visited folder and
    stops there. Hidden folders (.git, .venv) are skipped.
    """
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"{root}: not a directory of suites")
    seen: set[tuple[int, int]] = set()
    suites: list[Path] = []
    schedules: list[Path] = []
    plain: deque[Path] = deque([root])
    linked: deque[Path] = deque()
    while plain or linked:
        folder = plain.popleft() if plain else linked.popleft()
        try:
            st = folder.stat()
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue  # unreadable or a dangling link: nothing to schedule there
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        names = {e.name for e in entries}
        if "suite.yaml" in names and (folder / "suite.yaml").is_file():
            suites.append(folder)
        if SCHEDULE_FILE in names and (folder / SCHEDULE_FILE).is_file():
            schedules.append(folder / SCHEDULE_FILE)
        for e in entries:
            if e.name.startswith(".") or not e.is_dir(follow_symlinks=True):
                continue
            (linked if e.is_symlink() else plain).append(Path(e.path))
    return Tree(suites=tuple(sorted(suites)), schedules=tuple(schedules))


def _text(doc: Any, loc: tuple[Any, ...], value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise doc.error(loc, f"{field} must be a non-empty string")
    return value.strip()


def _local(base: Path, value: str) -> Path:
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else base / path


def _target(doc: Any, loc: tuple[Any, ...], spec: str, base: Path) -> str:
    """A `python:FILE:function` target's relative file is resolved from the schedule file's folder."""
    if not spec.startswith("python:"):
        return spec
    ref, sep, fn = spec[len("python:") :].rpartition(":")
    if not sep or not ref or not fn:
        raise doc.error(loc, f"target {spec!r}: expected python:path/to/file.py:function or python:module:function")
    if not (ref.endswith(".py") or "/" in ref):
        return spec  # a module name, imported as usual
    path = _local(base, ref)
    if not path.is_file():
        raise doc.error(loc, f"target {spec!r}: no file {path} (paths are relative to {base})")
    return f"python:{path}:{fn}"


def _file(doc: Any, loc: tuple[Any, ...], value: Any, field: str, base: Path) -> Path:
    path = _local(base, _text(doc, loc, value, field))
    if not path.is_file():
        raise doc.error(loc, f"{field}: no file {path} (paths are relative to {base})")
    return path


def _panel(value: str, base: Path) -> str:
    """A panel id stays an id (judges/panels/<id>.yaml); a panel file is resolved from the schedule's folder."""
    looks_like_file = value.endswith((".yaml", ".yml")) or "/" in value
    return str(_local(base, value)) if looks_like_file else value


def _entry(doc: Any, i: int, raw: Any, base: Path, in_suite: bool) -> Binding:
    loc: tuple[Any, ...] = ("runs", i)
    if not isinstance(raw, dict):
        raise doc.error(loc, "each entry of runs must be a mapping with agent and target")
    for key in raw:
        if key not in RUN_KEYS:
            raise doc.error(loc + (key,), f"unknown field {key!r}; valid fields: {', '.join(RUN_KEYS)}")
    for key in REQUIRED:
        if key not in raw:
            raise doc.error(loc, f"missing required field {key!r}")
    if "suite" in raw:
        suite = _local(base, _text(doc, loc + ("suite",), raw["suite"], "suite"))
        if not (suite / "suite.yaml").is_file():
            raise doc.error(loc + ("suite",), f"no suite.yaml in {suite}")
    elif in_suite:
        suite = base
    else:
        raise doc.error(
            loc,
            f"missing required field 'suite' (no suite.yaml beside {doc.path.name}: name the "
            "suite folder, relative to this file)",
        )
    version = raw.get("agent_version")
    if isinstance(version, int | float) and not isinstance(version, bool):
        raw = {**raw, "agent_version": str(version)}  # `agent_version: 2.1` is meant as text
    get = {
        k: _text(doc, loc + (k,), raw[k], k)
        for k in ("agent", "agent_version", "target_base_url", "target_api_key_env", "panel")
        if raw.get(k) is not None
    }
    return Binding(
        suite_dir=suite.resolve(),
        agent=get["agent"],
        where=doc.where(loc),
        target=_target(doc, loc + ("target",), _text(doc, loc + ("target",), raw["target"], "target"), base),
        agent_version=get.get("agent_version"),
        target_base_url=get.get("target_base_url"),
        target_api_key_env=get.get("target_api_key_env"),
        target_system=_file(doc, loc + ("target_system",), raw["target_system"], "target_system", base)
        if raw.get("target_system") is not None
        else None,
        target_schema=_file(doc, loc + ("target_schema",), raw["target_schema"], "target_schema", base)
        if raw.get("target_schema") is not None
        else None,
        panel=_panel(get["panel"], base) if "panel" in get else None,
    )


def load_schedule(path: Path) -> list[Binding]:
    """One schedule file's bindings; any mistake is a ConfigError naming the file, line and field."""
    from harness.yamlio import load_yaml

    doc = load_yaml(path)
    raw = doc.data
    if not isinstance(raw, dict) or "runs" not in raw:
        raise doc.error((), "a schedule file must be a mapping with `runs:`, a list of {agent, target, ...}")
    for key in raw:
        if key not in TOP_KEYS:
            raise doc.error((key,), f"unknown field {key!r}; valid fields: {', '.join(TOP_KEYS)}")
    if not isinstance(raw["runs"], list) or not raw["runs"]:
        raise doc.error(("runs",), "runs must be a non-empty list of {agent, target, ...}")
    base = path.parent
    in_suite = (base / "suite.yaml").is_file()
    return [_entry(doc, i, entry, base, in_suite) for i, entry in enumerate(raw["runs"])]


def load_bindings(schedules: tuple[Path, ...]) -> dict[Path, list[Binding]]:
    """Real suite folder -> its bindings from every schedule file; one agent bound twice to a suite is an error."""
    out: dict[Path, list[Binding]] = {}
    for path in schedules:
        for b in load_schedule(path):
            have = out.setdefault(b.suite_dir, [])
            twice = next((o for o in have if o.agent == b.agent), None)
            if twice is not None:
                raise ConfigError(
                    f"agent {b.agent!r} is bound to suite {b.suite_dir} twice (first at {twice.where})", where=b.where
                )
            have.append(b)
    return out
