"""Scheduled runs: which suites are due (evidence stale now or within a horizon), `run --due`, and the run
command's output for cron (--quiet) and CI (--junit)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

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

    def as_dict(self) -> dict[str, Any]:
        return dict(suite_dir=str(self.suite_dir), pact_id=self.pact_id, pact_version=self.pact_version,
                    pact_hash=self.pact_hash, agent=self.agent, due=self.due, reason=self.reason,
                    next_expiry=self.next_expiry, stale_clauses=self.stale_clauses)


def find_suites(root: Path) -> list[Path]:
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"{root}: not a directory of suites")
    if (root / "suite.yaml").is_file():
        return [root]
    return sorted(p.parent for p in root.rglob("suite.yaml")
                  if not any(part.startswith(".") for part in p.relative_to(root).parts))


def due_items(store: Any | None, root: Path, horizon_s: float, now: datetime, agent: str | None = None,
              agent_given: bool = False, with_jury: bool = True) -> list[DueItem]:
    """Every suite under `root` for every agent with evidence on its pact (or the given agent), due or not.

    A suite is due for an agent when a clause its cases test has no evidence for the pact version, or its
    evidence expires (completion + freshness window) before now + horizon. Without a jury (`run --due` with no
    --panel) clauses with `verify: jury` are left out: such a run could not refresh them.
    """
    from harness.decision import assess
    from harness.suite import load_plan
    from harness.trust import fmt_duration

    known = store.agent_pacts() if store is not None else []
    items = []
    limit = now + timedelta(seconds=horizon_s)
    for suite_dir in find_suites(root):
        plan = load_plan(suite_dir)
        pact = plan.pact
        tested = {cid for case in plan.suite.cases for cid in case.clause_ids
                  if with_jury or pact.clause(cid).verify != "jury"}
        agents = [agent] if agent_given else ([k["agent"] for k in known if k["pact_id"] == pact.id] or [None])
        for who in agents:
            base = dict(suite_dir=suite_dir, pact_id=pact.id, pact_version=pact.version, pact_hash=pact.hash, agent=who)
            if not tested:
                items.append(DueItem(**base, due=False, reason="tests only jury clauses (count them with --panel)"))
                continue
            if store is None or (who is None and not agent_given):
                items.append(DueItem(**base, due=True, reason="never run"))
                continue
            states = [s for s in assess(store, pact, who, now).states if s.clause.id in tested]
            missing = [s.clause.id for s in states if s.expires_at is None]
            expiring = sorted((s for s in states if s.expires_at is not None), key=lambda s: s.expires_at)
            stale = [s.clause.id for s in states if s.stale]
            soon = [s for s in expiring if s.expires_at <= limit]
            next_expiry = expiring[0].expires_at if expiring else None
            if missing and len(missing) == len(states):
                reason, due = "no evidence for this pact version", True
            elif missing:
                reason, due = f"no evidence for {', '.join(missing)}", True
            elif stale:
                reason = f"stale: {', '.join(stale)} (evidence {fmt_duration(max(s.age_s or 0 for s in states))} old)"
                due = True
            elif soon:
                reason = f"stale in {fmt_duration((soon[0].expires_at - now).total_seconds())}: {soon[0].clause.id}"
                due = True
            else:
                reason = (f"fresh for {fmt_duration((next_expiry - now).total_seconds())}" if next_expiry
                          else "fresh")
                due = False
            items.append(DueItem(**base, due=due, reason=reason, next_expiry=next_expiry,
                                 stale_clauses=stale + missing))
    return items


# ---------------------------------------------------------------- run


