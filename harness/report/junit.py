"""JUnit XML for CI systems: one <testsuite> per run, one <testcase> per clause.

breached -> <failure> with the evidence (rate, interval, threshold, counts, a few failing case ids);
inconclusive, pending-jury, no-evidence -> <skipped> with the reason; met -> a passing test case.
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

MAX_CASE_IDS = 5


def _pct(x: Any) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def _timestamp(value: Any) -> str:
    from harness.clock import as_utc

    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S") if hasattr(value, "strftime") else str(value)


def evidence_line(c: dict[str, Any]) -> str:
    conf = c.get("confidence") or 0.95
    ci = "n/a" if c.get("ci_low") is None else f"{_pct(c['ci_low'])}-{_pct(c['ci_high'])}"
    text = (
        f"{c['status']}: pass rate {_pct(c.get('rate'))} ({conf:.0%} CI {ci}) vs threshold {_pct(c['threshold'])}; "
        f"{c['passed']} passed, {c['failed']} failed, {c['errors']} errors, {c['inconclusive']} inconclusive, "
        f"{c['pending']} awaiting judges of {c['n']}"
    )
    if c.get("cases_needed") is not None:
        text += f"; about {c['cases_needed']} more cases to decide"
        if c.get("cases_needed_power") is not None:
            text += f" ({c['cases_needed_power']} for an 80% chance)"
    return text


def _details(c: dict[str, Any]) -> str:
    lines = [evidence_line(c)]
    failing = c.get("failing_cases") or []
    total = c.get("failing_total", len(failing))
    if failing:
        shown = ", ".join(failing[:MAX_CASE_IDS]) + (f" (+{total - MAX_CASE_IDS} more)" if total > MAX_CASE_IDS else "")
        lines.append(f"failing cases: {shown}")
    if c.get("human_labels"):
        lines.append(f"{c['human_labels']} verdict(s) set by human review")
    return "\n".join(lines)


def build(summaries: Sequence[dict[str, Any]]) -> ET.Element:
    root = ET.Element("testsuites", name="pactjury")
    totals = dict(tests=0, failures=0, skipped=0, errors=0)
    for s in summaries:
        run, decision = s["run"], s.get("decision") or {}
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"{run['pact_id']} v{run['pact_version']} / {run['suite_id']}",
            hostname=socket.gethostname(),
            timestamp=_timestamp(run.get("finished_at") or run["started_at"]),
            id=run["run_id"],
        )
        props = ET.SubElement(suite, "properties")
        for name, value in (
            ("run_id", run["run_id"]),
            ("agent", run.get("agent")),
            ("agent_version", run.get("agent_version")),
            ("pact_hash", run["pact_hash"]),
            ("decision", decision.get("decision")),
            ("revision", decision.get("revision", 0)),
        ):
            if value is not None:
                ET.SubElement(props, "property", name=name, value=str(value))
        counts = dict(tests=0, failures=0, skipped=0, errors=0)
        for c in s["clauses"]:
            counts["tests"] += 1
            case = ET.SubElement(
                suite, "testcase", classname=f"pactjury.{run['pact_id']}", name=c["clause_id"], time="0"
            )
            if c["status"] == "breached":
                counts["failures"] += 1
                failure = ET.SubElement(case, "failure", type="breached", message=evidence_line(c))
                failure.text = _details(c)
            elif c["status"] != "met":
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=evidence_line(c))
            out = ET.SubElement(case, "system-out")
            out.text = f"{c['severity']} clause; " + _details(c)
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
    for k, v in totals.items():
        root.set(k, str(v))
    return root


def write(path: Path, summaries: Sequence[dict[str, Any]]) -> None:
    tree = ET.ElementTree(build(summaries))
    ET.indent(tree)
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        tree.write(path, encoding="utf-8", xml_declaration=True)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write the JUnit file ({exc.strerror})") from None
