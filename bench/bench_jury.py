"""Benchmark: a 3-judge panel on N cases through the full pipeline vs a bare litellm loop making the same calls.

The judges talk to a local OpenAI-compatible server (a separate process) that answers after a fixed latency.
The target is an instant Python function, so the judge calls are the work being measured. Printed from one run:
  pipeline / bare      wall time of the run vs asyncio + semaphore + litellm.acompletion over the same calls
  adaptive calls saved  judge calls the adaptive jury did not need (all judges agree here: 1 in 3 per ballot)
  CPU per vote         process CPU time of the run divided by the votes cast
Target (issue 3): pipeline within 1.25x of the bare loop at N=1000 x 3 judges, 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_checks import start_server  # noqa: E402  (same server process as the checks benchmark)

VOTE = json.dumps({"verdict": "pass", "rationale": "The reply addresses the ticket and names a next step."})

PACT = """
id: bench-jury
version: "1"
tier: medium
owner: bench
freshness: 7d
clauses:
  - id: helpful
    claim: The reply is helpful and names the next step.
    verify: jury
    threshold: 0.8
    severity: major
"""

AGENT = """
def respond(case):
    return "Thanks for the report: the network team is on it and will update you within 4 hours."
"""


def write_files(root: Path, n: int, url: str, adaptive: bool) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pact.yaml").write_text(PACT)
    (root / "agent.py").write_text(AGENT)
    cases = [
        {"id": f"c{i:05d}", "clauses": ["helpful"], "input": f"Ticket {i}: VPN drops for the whole floor."}
        for i in range(n)
    ]
    (root / "suite.yaml").write_text(json.dumps({"id": "bench-jury-suite", "cases": cases}))
    panel = {
        "id": "bench-panel",
        "method": "majority",
        "adaptive": adaptive,
        "concurrency": 64,
        "judges": [{"name": f"j{k}", "model": f"openai/judge-{k}", "api_base": url, "retries": 0} for k in range(3)],
    }
    path = root / ("panel-adaptive.json" if adaptive else "panel.json")
    path.write_text(json.dumps(panel))
    return path


async def bare_loop(url: str, n: int, concurrency: int) -> float:
    # The baseline deliberately calls litellm directly: it is what the pipeline is measured against.
    import litellm

    sem = asyncio.Semaphore(concurrency)

    async def one(i: int, k: int) -> None:
        async with sem:
            await litellm.acompletion(
                model=f"openai/judge-{k}",
                api_base=url,
                api_key="no-key",
                temperature=0.0,
                max_tokens=512,
                timeout=60,
                messages=[{"role": "user", "content": f"Judge ticket {i}"}],
            )

    t = time.perf_counter()
    await asyncio.gather(*(one(i, k) for i in range(n) for k in range(3)))
    return time.perf_counter() - t


def pipeline_run(root: Path, panel_file: Path, db: Path, concurrency: int) -> dict:
    from harness.jury.panel import Jury, load_panel
    from harness.pipeline import RunSettings, execute, start_run
    from harness.store import Store
    from harness.suite import load_plan
    from harness.target import make_target

    plan = load_plan(root)
    target = make_target(f"python:{root / 'agent.py'}:respond")
    spec, rubrics = load_panel(panel_file)
    jury = Jury(panel=spec, rubrics=rubrics, use_cache=False)
    settings = RunSettings(concurrency=concurrency, progress=False, jury=jury)
    with Store(db) as store:
        cpu, t = time.process_time(), time.perf_counter()
        run_id = start_run(store, plan, target, settings)
        asyncio.run(execute(store, plan, target, run_id, settings))
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu
        votes = store.query(
            "SELECT count(*) AS n, count(*) FILTER (label = 'abstain') AS abstains FROM votes WHERE run_id = ?",
            [run_id],
        )[0]
    return dict(
        wall=wall, cpu=cpu, votes=votes["n"], abstains=votes["abstains"], calls=jury.stats.calls, saved=jury.stats.saved
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--latency-ms", type=int, default=50)
    ap.add_argument("--concurrency", type=int, default=64, help="judge calls in flight (and cases in flight)")
    args = ap.parse_args()
    from harness.llm import preload

    preload()
    server, url = start_server(args.latency_ms, reply=VOTE)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "suite"
            panel = write_files(root, args.n, url, adaptive=False)
            adaptive_panel = write_files(root, args.n, url, adaptive=True)
            asyncio.run(bare_loop(url, 30, args.concurrency))  # warm-up
            bare = asyncio.run(bare_loop(url, args.n, args.concurrency))
            full = pipeline_run(root, panel, Path(tmp) / "a.duckdb", args.concurrency)
            adaptive = pipeline_run(root, adaptive_panel, Path(tmp) / "b.duckdb", args.concurrency)
    finally:
        server.terminate()
        server.wait()
    calls = 3 * args.n
    ideal = calls * args.latency_ms / 1000 / args.concurrency
    print(
        f"N={args.n} cases x 3 judges = {calls} calls, latency={args.latency_ms}ms, "
        f"concurrency={args.concurrency}, cpus={os.cpu_count()}"
    )
    print(f"ideal                 {ideal:8.2f} s")
    print(f"bare litellm          {bare:8.2f} s   bare/ideal {bare / ideal:5.2f}x")
    print(
        f"pactjury run (panel)  {full['wall']:8.2f} s   pipeline/bare {full['wall'] / bare:5.2f}x  (target <= 1.25x)"
        f"   votes {full['votes']} abstains {full['abstains']}"
    )
    print(
        f"CPU per vote          {1000 * full['cpu'] / max(1, full['votes']):8.2f} ms   "
        f"(whole run's process CPU / votes)"
    )
    print(
        f"adaptive jury         {adaptive['wall']:8.2f} s   calls {adaptive['calls']} of {calls}, "
        f"saved {adaptive['saved']} ({adaptive['saved'] / calls:.0%})"
    )


if __name__ == "__main__":
    main()
