"""One store filled by real runs (real CLI, real judges over HTTP on 127.0.0.1), shared by the trend, compare
and report tests. Built once per test session, on first use; the tests only read it.

The runs go through the real CLI entry point (`harness.cli.main`, in this process so that litellm is imported
once) and the real pipeline; the judges answer over HTTP from a scripted server on 127.0.0.1. Oldest first:
  0. pact old-pact (deterministic only), agent ev-agent 1.0: the oldest evidence
  1. evidence-pact, ev-agent 1.0, no panel: the jury clauses stay pending-jury
  2. evidence-pact, ev-agent 1.0 with the panel (label-right fails case-002); --json
  3. evidence-pact, ev-agent 2.0 with the panel (label-right fails case-001 and case-004; case-000 carries
     markup payloads); the judge votes on unchanged outputs are answered from the cache

Judges (panel ev-panel, majority): ev-a (model gpt-4o-mini, which litellm can price) passes everything; ev-b
fails `helpful` on cases whose number is a multiple of 3; ev-c fails both jury clauses on even cases and
writes a rationale with a script payload. Every judge reply reports 100 prompt and 20 completion tokens.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from suitefiles import BASIC_PACT, write_panel, write_suite

from harness.cli import main
from harness.testing.openai_server import Reply, ScriptedResponder, start_in_thread

N_CASES = 12
PAYLOAD_OUTPUT = "<script>window.__pwned=1</script><img src=x onerror=window.__pwned=1>"
PAYLOAD_INPUT = "<img src=x onerror=window.__pwned=2>"
PAYLOAD_RATIONALE = "<script>window.__pwned=3</script>curt <b>reply</b>"
JUDGE_MODELS = {"ev-a": "openai/gpt-4o-mini", "ev-b": "openai/ev-judge-b", "ev-c": "openai/ev-judge-c"}
V1_WRONG = {2}
V2_WRONG = {1, 4}

AGENT = """
import json

V1_WRONG = %r
V2_WRONG = %r
PAYLOAD = %r

def _answer(case, wrong, payload):
    text = case["input"] if isinstance(case["input"], str) else case["messages"][-1]["content"]
    n = int(text.split()[-1])
    label = "even" if n %% 2 == 0 else "odd"
    if n in wrong:
        label = "odd" if label == "even" else "even"
    greeting = "Hello!" + (" " + PAYLOAD if payload and n == 0 else "")
    return {"output": json.dumps({"greeting": greeting, "label": label}),
            "tokens_in": 10 + n, "tokens_out": 5, "cost_usd": 0.001}

def respond_v1(case):
    return _answer(case, V1_WRONG, False)

def respond_v2(case):
    return _answer(case, V2_WRONG, True)

def respond_old(case):
    return {"output": "hello there", "tokens_in": 3, "tokens_out": 2, "cost_usd": 0.0005}
""" % (V1_WRONG, V2_WRONG, PAYLOAD_OUTPUT)  # noqa: UP031 (braces in the code: % reads better)

PASS = json.dumps({"verdict": "pass", "rationale": "courteous and helpful"})


def _fail(why: str) -> str:
    return json.dumps({"verdict": "fail", "rationale": why})


def judges(request_json: dict[str, Any]) -> Reply:
    text = " ".join(str(m.get("content", "")) for m in request_json["messages"])
    n = int(re.search(r"hello number (\d+)", text).group(1))
    clause = "helpful" if "Answers helpfully" in text else "tone"
    model = request_json["model"]
    verdict = PASS
    if model == "ev-judge-c" and n % 2 == 0:
        verdict = _fail(PAYLOAD_RATIONALE)
    elif model == "ev-judge-b" and clause == "helpful" and n % 3 == 0:
        verdict = _fail("does not say what happens next")
    return Reply(text=verdict, prompt_tokens=100, completion_tokens=20)


def evidence_pact() -> dict[str, Any]:
    pact = copy.deepcopy(BASIC_PACT)
    pact["id"] = "evidence-pact"
    pact["clauses"][2]["threshold"] = 0.5
    pact["clauses"].append(
        {
            "id": "helpful",
            "claim": "Answers helpfully and says what happens next.",
            "verify": "jury",
            "threshold": 0.5,
            "severity": "minor",
        }
    )
    return pact


def evidence_suite() -> dict[str, Any]:
    cases = []
    for i in range(N_CASES):
        text = f"hello number {i}" if i else f"{PAYLOAD_INPUT} hello number {i}"
        cases.append(
            {
                "id": f"case-{i:03d}",
                "clauses": ["says-hello", "label-right", "tone", "helpful"],
                "input": text,
                "expected": {"label": "even" if i % 2 == 0 else "odd"},
            }
        )
    return {"id": "evidence-suite", "cases": cases}


def old_pact() -> dict[str, Any]:
    return {
        "id": "old-pact",
        "version": "0.9.0",
        "tier": "low",
        "owner": "evals-team",
        "freshness": "30d",
        "clauses": [
            {
                "id": "greets",
                "claim": "Greets.",
                "verify": "deterministic",
                "threshold": 0.5,
                "severity": "minor",
                "checks": [{"check": "icontains", "value": "hello"}],
            }
        ],
    }


@dataclass
class EvidenceStore:
    root: Path
    db: Path
    run_ids: list[str] = field(default_factory=list)  # in the order above
    outputs: list[Any] = field(default_factory=list)  # completed processes

    @property
    def v1_no_panel(self) -> str:
        return self.run_ids[1]

    @property
    def v1(self) -> str:
        return self.run_ids[2]

    @property
    def v2(self) -> str:
        return self.run_ids[3]


_BUILT: dict[str, EvidenceStore] = {}


def cli(*args: Any) -> SimpleNamespace:
    """`pactjury ARGS` in this process: exit code and what it printed."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def build(base: Path) -> EvidenceStore:
    if "store" in _BUILT:
        return _BUILT["store"]
    root = base / "evidence"
    suite = write_suite(root / "suite", pact=evidence_pact(), suite=evidence_suite())
    (suite / "agent.py").write_text(AGENT)
    old = write_suite(
        root / "old",
        pact=old_pact(),
        suite={
            "id": "old-suite",
            "cases": [{"id": f"old-{i}", "clauses": ["greets"], "input": f"hi {i}"} for i in range(3)],
        },
    )
    db = root / "results" / "pactjury.duckdb"
    store = EvidenceStore(root=root, db=db)
    responder = ScriptedResponder(default=judges)
    with start_in_thread(responder) as server:
        panel = write_panel(
            root / "panels",
            server.url,
            [{"name": name, "model": model} for name, model in JUDGE_MODELS.items()],
            id="ev-panel",
        )
        agent = f"python:{suite / 'agent.py'}"
        runs = [
            (old, ["--target", f"python:{suite / 'agent.py'}:respond_old", "--agent-version", "1.0"]),
            (suite, ["--target", f"{agent}:respond_v1", "--agent-version", "1.0"]),
            (suite, ["--target", f"{agent}:respond_v1", "--agent-version", "1.0", "--panel", panel, "--json"]),
            (suite, ["--target", f"{agent}:respond_v2", "--agent-version", "2.0", "--panel", panel]),
        ]
        for suite_dir, extra in runs:
            r = cli("run", suite_dir, "--agent", "ev-agent", "--db", db, "--no-progress", *extra)
            assert r.returncode in (0, 1), r.stderr
            store.outputs.append(r)
            found = re.search(r"^run (\d{8}-\d{6}-[0-9a-f]{6})", r.stderr, re.M)
            store.run_ids.append(found.group(1) if found else json.loads(r.stdout)["run"]["run_id"])
    _BUILT["store"] = store
    return store
