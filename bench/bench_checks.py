"""Benchmark: N cases of deterministic checks through the full run pipeline vs a bare litellm loop.

Both sides send the same N chat requests to a local OpenAI-compatible server (a separate process) that
answers after a fixed latency. Printed as ratios from this one run:
  pipeline / ideal   where ideal = N x latency / concurrency
  pipeline / bare    where bare = asyncio + semaphore + litellm.acompletion, nothing else
Target (issue 2): pipeline within 1.25x of the bare loop at N=2000, 50 ms, concurrency 64.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REPLY = json.dumps(
    {
        "priority": "P2",
        "category": "network",
        "route": "network-ops",
        "escalate": False,
        "reply": "Thanks, the network team is on it; we will update you within 4 hours.",
    }
)

PACT = """
id: bench-pact
version: "1"
tier: medium
owner: bench
freshness: 7d
clauses:
  - id: shape
    claim: Replies with the triage JSON.
    verify: deterministic
    threshold: 0.9
    severity: major
    checks:
      - {check: json-valid}
      - {check: json-schema, schema: {type: object, required: [priority, category, route, escalate, reply]}}
  - id: priority
    claim: Correct priority.
    verify: deterministic
    threshold: 0.9
    severity: critical
    checks:
      - {check: json-path, path: $.priority, equals: {expected: priority}}
      - {check: one-of, path: $.priority, values: [P1, P2, P3, P4]}
  - id: privacy
    claim: No PII or secrets in the reply.
    verify: deterministic
    threshold: 1.0
    severity: critical
    checks:
      - {check: no-pii-leak, path: $.reply}
      - {check: no-secret-leak}
      - {check: regex, path: $.reply, pattern: "\\\\bwithin \\\\d+ hours\\\\b"}
  - id: speed
    claim: Answers quickly.
    verify: deterministic
    threshold: 0.9
    severity: minor
    checks:
      - {check: latency-max, ms: 5000}
"""


def write_suite(root: Path, n: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pact.yaml").write_text(PACT)
    cases = [
        {
            "id": f"c{i:05d}",
            "clauses": ["shape", "priority", "privacy", "speed"],
            "input": f"Ticket {i}: the VPN drops every few minutes for the whole floor.",
            "expected": {"priority": "P2"},
        }
        for i in range(n)
    ]
    (root / "suite.yaml").write_text(json.dumps({"id": "bench-suite", "cases": cases}))


def start_server(latency_ms: int, reply: str = REPLY) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.testing.openai_server",
            "--port",
            "0",
            "--latency-ms",
            str(latency_ms),
            "--reply",
            reply,
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    line = proc.stdout.readline().strip()
    if not line.startswith("READY "):
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


async def bare_loop(url: str, n: int, concurrency: int) -> float:
    # The baseline deliberately calls litellm directly: it is what the pipeline is measured against.
    import litellm

    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            await litellm.acompletion(
                model="openai/bench-agent",
                api_base=url,
                api_key="no-key",
                temperature=0.0,
                timeout=60,
                messages=[{"role": "user", "content": f"Ticket {i}"}],
            )

    t = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - t


def pipeline_run(url: str, suite_dir: Path, db: Path, concurrency: int) -> tuple[float, int]:
    from harness.pipeline import RunSettings, execute, start_run
    from harness.store import Store
    from harness.suite import load_plan
    from harness.target import TargetOptions, make_target

    plan = load_plan(suite_dir)
    target = make_target("openai/bench-agent", TargetOptions(base_url=url, timeout_s=60))
    settings = RunSettings(concurrency=concurrency, progress=False)
    with Store(db) as store:
        t = time.perf_counter()
        run_id = start_run(store, plan, target, settings)
        outcome = asyncio.run(execute(store, plan, target, run_id, settings))
        wall = time.perf_counter() - t
        errors = store.run_totals(run_id)["target_errors"]
        passed = sum(r.passed for r in outcome.clause_results)
    assert passed == 4 * len(plan.suite.cases) - errors * 4, "checks did not pass as scripted"
    return wall, errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--latency-ms", type=int, default=50)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=2, help="alternating repetitions; the best of each is reported")
    args = ap.parse_args()

    server, url = start_server(args.latency_ms)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            suite_dir = Path(tmp) / "suite"
            write_suite(suite_dir, args.n)
            asyncio.run(bare_loop(url, 64, args.concurrency))  # warm-up: imports, connection pool
            bare, piped, errors = [], [], 0
            for i in range(args.repeat):
                bare.append(asyncio.run(bare_loop(url, args.n, args.concurrency)))
                wall, errs = pipeline_run(url, suite_dir, Path(tmp) / f"bench{i}.duckdb", args.concurrency)
                piped.append(wall)
                errors += errs
    finally:
        server.terminate()
        server.wait()
    ideal = args.n * args.latency_ms / 1000 / args.concurrency
    b, p = min(bare), min(piped)
    print(f"N={args.n} latency={args.latency_ms}ms concurrency={args.concurrency} cpus={os.cpu_count()}")
    print(f"ideal            {ideal:8.2f} s")
    print(
        f"bare litellm     {b:8.2f} s   bare/ideal     {b / ideal:6.2f}x   (runs: {', '.join(f'{x:.2f}' for x in bare)})"
    )
    print(
        f"pactjury run     {p:8.2f} s   pipeline/ideal {p / ideal:6.2f}x   (runs: {', '.join(f'{x:.2f}' for x in piped)})"
    )
    print(f"pipeline / bare  {p / b:8.2f}x  (target <= 1.25x)   target errors: {errors}")


if __name__ == "__main__":
    main()
