"""Helpers that write small pacts and suites into a temporary directory for tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

BASIC_PACT: dict[str, Any] = {
    "id": "demo-pact",
    "version": "1.0.0",
    "tier": "high",
    "owner": "evals-team",
    "freshness": "7d",
    "clauses": [
        {
            "id": "says-hello",
            "claim": "Greets the user.",
            "verify": "deterministic",
            "threshold": 0.5,
            "severity": "critical",
            "checks": [{"check": "icontains", "value": "hello"}],
        },
        {
            "id": "label-right",
            "claim": "Returns the expected label.",
            "verify": "deterministic",
            "threshold": 0.9,
            "severity": "major",
            "checks": [{"check": "json-path", "path": "$.label", "equals": {"expected": "label"}}],
        },
        {"id": "tone", "claim": "Is courteous.", "verify": "jury", "threshold": 0.8, "severity": "minor"},
    ],
    "consequences": [
        {"when": {"severity": "critical", "status": "breached"}, "action": "suspend"},
        {"when": {"status": "breached"}, "action": "restrict"},
        {"action": "approve"},
    ],
}


def basic_suite(n: int = 4) -> dict[str, Any]:
    cases = []
    for i in range(n):
        cases.append(
            {
                "id": f"case-{i:03d}",
                "clauses": ["says-hello", "label-right", "tone"],
                "input": f"hello number {i}",
                "expected": {"label": "even" if i % 2 == 0 else "odd"},
            }
        )
    return {"id": "demo-suite", "cases": cases}


def write_suite(
    root: Path,
    pact: dict[str, Any] | None = None,
    suite: dict[str, Any] | None = None,
    pact_text: str | None = None,
    suite_text: str | None = None,
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pact.yaml").write_text(
        pact_text if pact_text is not None else yaml.safe_dump(pact or BASIC_PACT, sort_keys=False)
    )
    (root / "suite.yaml").write_text(
        suite_text if suite_text is not None else yaml.safe_dump(suite or basic_suite(), sort_keys=False)
    )
    return root


AGENT_SOURCE = '''
import json, os, time

def respond(case):
    """Echoes a greeting and labels the case number's parity; 'slow' and 'boom' inputs misbehave."""
    text = case["input"] if isinstance(case["input"], str) else case["messages"][-1]["content"]
    if "boom" in text:
        raise RuntimeError("agent exploded")
    if "slow" in text:
        time.sleep(float(os.environ.get("PJ_TEST_SLOW", "5")))
    n = int(text.split()[-1])
    return {"output": json.dumps({"greeting": "Hello!", "label": "even" if n % 2 == 0 else "odd"}),
            "tool_calls": [{"name": "lookup", "arguments": {"n": n}}]}

async def respond_async(case):
    return respond(case)
'''


def write_agent(root: Path) -> Path:
    path = root / "agent.py"
    path.write_text(AGENT_SOURCE)
    return path


def write_panel(root: Path, url: str, judges: list[dict[str, Any]], **options: Any) -> Path:
    """A panel file whose judges all talk to the fake OpenAI-compatible server at `url`."""
    root.mkdir(parents=True, exist_ok=True)
    spec = {
        "id": options.pop("id", "test-panel"),
        "judges": [
            {"api_base": url, "retries": 0, "timeout_s": 10, **j, "model": j.get("model", f"openai/{j['name']}")}
            for j in judges
        ],
        **options,
    }
    path = root / f"{spec['id']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path
