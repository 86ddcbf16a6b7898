"""`run --due`: every due suite under a root, each against the agent and target its schedule.yaml binds it to
(`--target` only for suites no schedule binds), one store lock for all; JSON and JUnit written together at the end."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from harness.cli.common import EXIT_ABORTED, EXIT_OK, emit_json, open_store, warn
from harness.errors import ConfigError


@dataclass(frozen=True)
class _Item:
    suite_dir: Any
    agent: str | None
    binding: Any


def _request(req: Any, item: Any) -> Any:
    """The one-suite request for a due item: its binding's agent and target, or the command line's."""
    b = item.binding
    if b is None:
        return replace(req, due=False, suite_dir=item.suite_dir, agent=item.agent)
    return replace(
        req,
        due=False,
        suite_dir=item.suite_dir,
        agent=b.agent,
        agent_version=b.agent_version,
        target=b.target,
        target_base_url=b.target_base_url,
        target_api_key_env=b.target_api_key_env,
        target_system=b.target_system,
        target_schema=b.target_schema,
        panel=b.panel or req.panel,
    )


def _say(req: Any, line: str) -> None:
    if not req.quiet and not req.json:
        print(line, file=sys.stderr)


def run_due(req: Any, run_one: Callable[..., int], target_options: Callable[[Any], Any]) -> int:
    """`run_one` (one suite) and `target_options` come from harness/cli/run.py, which calls this."""
    from harness.clock import now
    from harness.lock import run_lock
    from harness.schedule import DEFAULT_SUITES_ROOT, due_items, scan
    from harness.target import make_target

    if req.resume:
        raise ConfigError("--due and --resume do not combine")
    root = req.suite_dir or DEFAULT_SUITES_ROOT
    unbound = [req.agent or make_target(req.target, target_options(req)).spec] if req.target else []
    found = scan(root)  # every suite, schedule file and bound target checked before the store is opened
    if not req.target and not any(real.resolve() in found.bindings for real, _ in found.plans):
        raise ConfigError(
            f"run --due: no schedule.yaml under {root} binds a suite to an agent and target; add one "
            "(see the README, Scheduled runs) or pass --target"
        )
    for bound in found.bindings.values():
        for b in bound:
            one = _request(req, _Item(suite_dir=b.suite_dir, agent=b.agent, binding=b))
            make_target(one.target, target_options(one))
    collected: list[dict[str, Any]] = []
    worst = EXIT_OK
    with run_lock(req.db_path, "run --due"):
        store = open_store(req.db_path, write=True)
        try:
            items = due_items(
                store, found, req.horizon, now(), agent=req.agent, unbound=unbound, with_jury=bool(req.panel)
            )
        finally:
            if store is not None:
                store.close()
        due = [i for i in items if i.due]
        requests = [_request(req, i) for i in due]
        _notes(req, items)
        if not due:
            _say(req, f"nothing due under {root}" + (f" for {req.agent}" if req.agent else ""))
        for item, one in zip(due, requests):
            how = f"{item.binding.where}" if item.binding else "--target"
            _say(req, f"due: {item.suite_dir} for {one.agent} ({item.reason}; target from {how})")
            code = run_one(one, collected)
            if code == EXIT_ABORTED:
                return code
            worst = max(worst, code)
    if req.json:
        emit_json(collected)
    if req.junit:
        from harness.report import junit

        junit.write(req.junit, collected)
    return worst  # 1 a clause breached, 4 a run failed (the worse of the two), 0 neither


def _notes(req: Any, items: list[Any]) -> None:
    """What the command line did not decide: suites skipped for want of a binding, and a --target that bound
    suites ignore (a schedule's binding always wins, so one agent is never judged on another's pact)."""
    if req.quiet or req.json:
        return
    for i in items:
        if i.binding is None and i.agent is None and not i.due and "binds it" in i.reason:
            warn(f"skipped {i.suite_dir}: {i.reason}")
    bound = sorted({str(i.suite_dir) for i in items if i.binding is not None and i.due})
    if req.target and bound:
        warn(f"--target {req.target} is used only for suites no schedule.yaml binds; not for {', '.join(bound)}")
