"""Which suites are due, and for whom: evidence missing or stale now or within a horizon, per suite and agent
(the agents schedule files bind it to, or those with evidence on its pact); `due` lists them, `run --due` runs them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from harness.bindings import SCHEDULE_FILE, Binding, Tree, load_bindings, walk

DEFAULT_SUITES_ROOT = Path("suites")


@dataclass
class DueItem:
    suite_dir: Path
    pact_id: str
    pact_version: str
    pact_hash: str
    agent: str | None
    due: bool
    reason: str
    next_expiry: datetime | None = None
    stale_clauses: list[str] = field(default_factory=list)
    binding: Binding | None = None  # the schedule entry that runs this suite for this agent, if one does

    def as_dict(self) -> dict[str, Any]:
        return dict(
            suite_dir=str(self.suite_dir),
            pact_id=self.pact_id,
            pact_version=self.pact_version,
            pact_hash=self.pact_hash,
            agent=self.agent,
            due=self.due,
            reason=self.reason,
            next_expiry=self.next_expiry,
            stale_clauses=self.stale_clauses,
            schedule=self.binding.as_dict() if self.binding else None,
        )


def find_suites(root: Path) -> list[Path]:
    """Every suite folder under `root` (or `root` itself), symlinked folders followed (harness/bindings.py)."""
    root = Path(root)
    if (root / "suite.yaml").is_file():
        return [root]
    return list(walk(root).suites)


@dataclass(frozen=True)
class Scan:
    """The suites under a root, each loaded and checked, and the schedule files' bindings: all of the input
    `due` and `run --due` read, so that a mistake in any of it is reported before anything is written."""

    plans: tuple[tuple[Path, Any], ...]  # (suite folder as reached, its Plan)
    bindings: dict[Path, list[Binding]]  # real suite folder -> its bindings


def scan(root: Path) -> Scan:
    from harness.suite import load_plan

    root = Path(root)
    tree = walk(root)
    if (root / "suite.yaml").is_file():  # a suite folder itself: that suite alone, as before
        tree = Tree(suites=(root,), schedules=tree.schedules)
    bindings = load_bindings(tree.schedules)
    return Scan(plans=tuple((d, load_plan(d)) for d in tree.suites), bindings=bindings)


def due_items(
    store: Any | None,
    root: Path | Scan,
    horizon_s: float,
    now: datetime,
    agent: str | None = None,
    unbound: list[str] | None = None,
    with_jury: bool = True,
) -> list[DueItem]:
    """Every suite under `root` (or of a Scan of it) for every agent it is run for, due or not.

    A suite bound by schedule files (harness/bindings.py) is run for its bound agents (only `agent`'s, when
    given). An unbound suite is run for `unbound` agents; None means every agent with evidence on its pact
    (or "never run"), and [] means none (an item saying so). A suite is due for an agent when a clause its cases
    test has no evidence for the pact version, or its evidence expires (completion + freshness window) before
    now + horizon. Clauses judged by a panel (`verify: jury` or `hybrid`) count only with a jury (the binding's
    panel, or `with_jury`): a run without judges cannot refresh them.
    """
    found = root if isinstance(root, Scan) else scan(root)
    bindings = found.bindings
    known = store.agent_pacts() if store is not None else []
    items = []
    for suite_dir, plan in found.plans:
        pact = plan.pact
        base = dict(suite_dir=suite_dir, pact_id=pact.id, pact_version=pact.version, pact_hash=pact.hash)
        bound = bindings.get(suite_dir.resolve())
        if bound:
            whom: list[tuple[str | None, Binding | None]] = [
                (b.agent, b) for b in bound if agent is None or b.agent == agent
            ]
        elif unbound is None:
            whom = [(w, None) for w in [k["agent"] for k in known if k["pact_id"] == pact.id] or [None]]
        elif not unbound:
            items.append(
                DueItem(
                    **base,
                    agent=None,
                    due=False,
                    reason=f"no {SCHEDULE_FILE} binds it to an agent and target (or pass --target)",
                )
            )
            continue
        else:
            whom = [(w, None) for w in unbound]
        for who, binding in whom:
            jury = with_jury or bool(binding and binding.panel)
            items.append(_item(store, plan, base, who, binding, jury, now, horizon_s))
    return items


def _item(
    store: Any | None,
    plan: Any,
    base: dict[str, Any],
    who: str | None,
    binding: Binding | None,
    with_jury: bool,
    now: datetime,
    horizon_s: float,
) -> DueItem:
    from harness.standing import assess_agent as assess
    from harness.trust import fmt_duration

    pact = plan.pact
    tested = {
        cid
        for case in plan.suite.cases
        for cid in case.clause_ids
        if with_jury or pact.clause(cid).verify == "deterministic"
    }  # hybrid passes need judges too
    base = dict(base, agent=who, binding=binding)
    if not tested:
        return DueItem(**base, due=False, reason="tests only jury clauses (count them with --panel)")
    if store is None or who is None:
        return DueItem(**base, due=True, reason="never run")
    states = [s for s in assess(store, pact, who, now).states if s.clause.id in tested]
    missing = [s.clause.id for s in states if s.expires_at is None]
    expiring = sorted((s.expires_at, s.clause.id) for s in states if s.expires_at is not None)
    stale = [s.clause.id for s in states if s.stale]
    soon = [(at, cid) for at, cid in expiring if at <= now + timedelta(seconds=horizon_s)]
    next_expiry = expiring[0][0] if expiring else None
    if missing and len(missing) == len(states):
        reason, due = "no evidence for this pact version", True
    elif missing:
        reason, due = f"no evidence for {', '.join(missing)}", True
    elif stale:
        reason = f"stale: {', '.join(stale)} (evidence {fmt_duration(max(s.age_s or 0 for s in states))} old)"
        due = True
    elif soon:
        reason, due = f"stale in {fmt_duration((soon[0][0] - now).total_seconds())}: {soon[0][1]}", True
    else:
        reason = f"fresh for {fmt_duration((next_expiry - now).total_seconds())}" if next_expiry else "fresh"
        due = False
    return DueItem(**base, due=due, reason=reason, next_expiry=next_expiry, stale_clauses=stale + missing)
