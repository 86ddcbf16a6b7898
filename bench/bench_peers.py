"""Benchmark: the judging workload of issue 12, `pactjury run` against a bare litellm loop and a bare aiohttp loop.

N cases (default 300), each 1 target call + 3 judge calls (majority panel): 4N calls to an OpenAI-compatible
server on 127.0.0.1 (its own process) that answers after --latency-ms (default 200), at --concurrency (64).
Each contender runs as a child process; from one run it prints:
  wall s             the child's whole life: imports, store, statistics and report included
  CPU ms/call        the child's user+system CPU (its rusage) divided by the 4N calls
  peak RSS MB        the child's maximum resident set size (rusage)
  in flight          mean and peak calls in flight at the server while the child called it (the server counts).
                     `pactjury run --concurrency 64` means at most 64 model calls in flight, target and judge
                     calls together (as the bare loops' semaphore of 64), so the peak column reads 64 for all.
  ratios             against the bare litellm loop making the same 4N calls at the same concurrency
Targets (issue 12): pactjury wall <= 0.8x bare litellm, CPU <= 4 ms/call, RSS <= 250 MB, in flight >= 48 of 64.

    .venv/bin/python bench/bench_peers.py [-n 300] [--latency-ms 200] [--concurrency 64] [--repeat 1]
    .venv/bin/python bench/bench_peers.py --faults   # CPU of a failed call vs a reply, fast lane and litellm
    .venv/bin/python bench/bench_peers.py --latency-ms 0 -n 4000 --workers 1 2   # the --workers speed-up
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
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": str(ROOT)}
VOTE = json.dumps({"rationale": "The reply acknowledges the ticket and names the next step.", "verdict": "pass"})
AGENT_REPLY = "Thanks for the report: the network team is on it and will update you within 4 hours."
JUDGES = 3
TARGETS = {"wall": 0.8, "cpu_ms": 4.0, "rss_mb": 250.0, "in_flight": 48 / 64}

PACT = """id: bench-peers
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


# ---------------------------------------------------------------- the server (its own process)


def serve(latency_ms: float) -> None:
    """The scripted server: the target model gets an agent reply, every judge model a vote."""
    from harness.testing.openai_server import Reply, ScriptedResponder, serve_forever

    def answer(body: dict[str, Any]) -> Reply:
        return Reply(AGENT_REPLY if body.get("model") == "bench-agent" else VOTE)

    responder = ScriptedResponder(answer, latency_s=latency_ms / 1000.0)
    responder._requests = _Discard()  # 1,200 recorded bodies are not needed here
    asyncio.run(serve_forever(responder))


class _Discard(list):
    def append(self, item: Any) -> None:
        pass


def start_server(latency_ms: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--latency-ms", str(latency_ms)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=ENV,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("READY "):
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


def server_stats(url: str, reset: bool = False) -> dict[str, Any]:
    req = urllib.request.Request(url.removesuffix("/v1") + "/stats", method="POST" if reset else "GET")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def cpu_s(pid: int) -> float:
    """user + system CPU seconds of a live process (to show the server is not the bottleneck)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- the bare loops (child processes)


def bodies(n: int) -> list[tuple[str, list[dict[str, str]]]]:
    """The 4N calls: a target call per case, three judge calls of a judge prompt's size (~2.4 KB)."""
    judge_user = "Fence code for this call: 0123456789abcdef01234567\n\n" + "Judge the reply to the ticket. " * 70
    out: list[tuple[str, list[dict[str, str]]]] = []
    for i in range(n):
        out.append(("bench-agent", [{"role": "user", "content": f"Ticket {i}: the VPN drops for the whole floor."}]))
        out += [
            (
                f"judge-{k}",
                [
                    {"role": "system", "content": "You are a judge. " * 60},
                    {"role": "user", "content": f"Case {i}. {judge_user}"},
                ],
            )
            for k in range(JUDGES)
        ]
    return out


async def bare_litellm(url: str, n: int, concurrency: int) -> None:
    import litellm  # the baseline deliberately calls litellm directly: it is what pactjury is measured against

    sem = asyncio.Semaphore(concurrency)

    async def one(model: str, messages: list[dict[str, str]]) -> None:
        async with sem:
            await litellm.acompletion(
                model=f"openai/{model}",
                api_base=url,
                api_key="no-key",
                temperature=0.0,
                max_tokens=512,
                timeout=60,
                messages=messages,
            )

    await asyncio.gather(*(one(m, msgs) for m, msgs in bodies(n)))


async def bare_aiohttp(url: str, n: int, concurrency: int) -> None:
    import aiohttp

    sem = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def one(model: str, messages: list[dict[str, str]]) -> None:
            async with (
                sem,
                session.post(
                    f"{url}/chat/completions",
                    json={"model": model, "messages": messages, "temperature": 0.0, "max_tokens": 512},
                ) as resp,
            ):
                body = await resp.json()
                assert body["choices"][0]["message"]["content"]

        await asyncio.gather(*(one(m, msgs) for m, msgs in bodies(n)))


def fault_costs(n: int = 1000) -> None:
    """CPU per call of harness.llm.complete, fast lane and litellm, for replies and for failures (client and an
    in-process server together: compare the rows, not the absolute figures)."""
    sys.path.insert(0, str(ROOT))
    from harness.llm import LLMRequest, complete
    from harness.testing.openai_server import Fault, Outcome, Reply, ScriptedResponder, start_in_thread

    def per_call(default: Outcome, fast: bool) -> tuple[float, str | None]:
        with start_in_thread(ScriptedResponder(default)) as server:

            async def run() -> tuple[float, str | None]:
                sem = asyncio.Semaphore(64)

                async def one(i: int) -> Any:
                    async with sem:
                        return await complete(
                            LLMRequest(
                                model="openai/judge-0",
                                messages=[{"role": "user", "content": f"q{i}"}],
                                api_base=server.url,
                                api_key="sk-bench-" + "x1Y2" * 6,
                                fast_lane=fast,
                            )
                        )

                await asyncio.gather(*(one(i) for i in range(50)))  # warm-up (litellm's lazy imports)
                cpu = time.process_time()
                replies = await asyncio.gather(*(one(i) for i in range(n)))
                return 1000 * (time.process_time() - cpu) / n, replies[0].error_kind

            return asyncio.run(run())

    for fast in (True, False):
        for name, outcome in (
            ("reply", Reply("ok")),
            ("HTTP 500", Fault(500, "boom")),
            ("HTTP 429", Fault(429, "slow down")),
        ):
            ms, kind = per_call(outcome, fast)
            print(f"{'fast lane' if fast else 'litellm'} {name:<9} {ms:6.2f} ms CPU per call  (error kind {kind})")


# ---------------------------------------------------------------- pactjury's files


def write_files(root: Path, n: int, url: str, concurrency: int) -> tuple[Path, Path]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pact.yaml").write_text(PACT)
    cases = [
        {"id": f"c{i:05d}", "clauses": ["helpful"], "input": f"Ticket {i}: the VPN drops for the whole floor."}
        for i in range(n)
    ]
    (root / "suite.yaml").write_text(json.dumps({"id": "bench-peers-suite", "cases": cases}))
    panel = {
        "id": "bench-peers-panel",
        "method": "majority",
        "concurrency": concurrency,
        "judges": [{"name": f"j{k}", "model": f"openai/judge-{k}", "api_base": url} for k in range(JUDGES)],
    }
    (root / "panel.json").write_text(json.dumps(panel))
    return root, root / "panel.json"


def pactjury_argv(suite: Path, panel: Path, url: str, db: Path, concurrency: int, extra: list[str]) -> list[str]:
    exe = Path(sys.executable).with_name("pactjury")
    head = [str(exe)] if exe.exists() else [sys.executable, "-m", "harness.cli"]
    return [
        *head,
        "run",
        str(suite),
        "--target",
        "openai/bench-agent",
        "--target-base-url",
        url,
        "--panel",
        str(panel),
        "--concurrency",
        str(concurrency),
        "--db",
        str(db),
        "--no-progress",
        *extra,
    ]


# ---------------------------------------------------------------- measuring a child


def measure(argv: list[str], url: str, server_pid: int, cwd: Path) -> dict[str, Any]:
    server_stats(url, reset=True)
    server_cpu = cpu_s(server_pid)
    t = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode not in (0, 1):  # 1: a breached clause, a finding; anything else is a broken run
        raise SystemExit(f"{' '.join(argv[:3])} exited {proc.returncode}:\n{err[-2000:]}")
    stats = server_stats(url)
    return dict(
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        rss_mb=usage.ru_maxrss / 1024,
        requests=stats["requests"],
        in_flight=stats["mean_in_flight"],
        peak=stats["peak"],
        call_span=stats["span_s"],
        server_cpu=cpu_s(server_pid) - server_cpu,
    )


def check_votes(db: Path, calls: int) -> str:
    sys.path.insert(0, str(ROOT))
    from harness.store import Store

    with Store(db) as store:
        rows = store.query("SELECT count(*) AS n, count(*) FILTER (label = 'abstain') AS a FROM votes")[0]
    return f"{rows['n']} votes, {rows['a']} abstains" + ("" if rows["n"] + calls // (JUDGES + 1) == calls else " (!)")


def row(name: str, m: dict[str, Any], calls: int, base: dict[str, Any] | None, concurrency: int) -> str:
    ratio = (
        f"{m['wall'] / base['wall']:5.2f}x {m['cpu'] / base['cpu']:5.2f}x {m['rss_mb'] / base['rss_mb']:5.2f}x"
        if base
        else "    -      -      -  "
    )
    return (
        f"{name:<40} {m['wall']:7.2f} {1000 * m['cpu'] / calls:8.2f} {m['rss_mb']:8.0f} "
        f"{m['in_flight']:5.1f} {m['peak']:4d} {m['call_span']:7.2f} {ratio}  {m['requests']:5d} "
        f"{100 * m['server_cpu'] / max(m['call_span'], 1e-9):5.0f}%"
    )


def workers_speedup(args: argparse.Namespace, calls: int) -> None:
    """The same workload under `--workers W` for each W (a fresh store each, so no vote is answered from a cache),
    interleaved over --repeat rounds; the best wall of each, and its speed-up over the first W."""
    server, url = start_server(args.latency_ms)
    best: dict[int, dict[str, Any]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            suite, panel = write_files(Path(tmp) / "suite", args.n, url, args.concurrency)
            for i in range(args.repeat):
                for w in args.workers:
                    db = Path(tmp) / f"w{w}-{i}.duckdb"
                    argv = pactjury_argv(suite, panel, url, db, args.concurrency, ["--workers", str(w)])
                    m = measure(argv, url, server.pid, Path(tmp))
                    if w not in best or m["wall"] < best[w]["wall"]:
                        best[w] = m
    finally:
        server.terminate()
        server.wait()
    print(
        f"N={args.n} cases x (1 target + {JUDGES} judges) = {calls} calls, latency {args.latency_ms:g} ms, "
        f"concurrency {args.concurrency}, {os.cpu_count()} CPUs (the server's process shares them), best of {args.repeat}"
    )
    base = best[args.workers[0]]
    for w in args.workers:
        m = best[w]
        print(
            f"--workers {w:<3} wall {m['wall']:7.2f} s  {calls / m['wall']:7.0f} calls/s  CPU {1000 * m['cpu'] / calls:5.2f} "
            f"ms/call  peak RSS {m['rss_mb']:4.0f} MB  speed-up vs --workers {args.workers[0]}: {base['wall'] / m['wall']:.2f}x"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=300, help="cases (each 1 target + 3 judge calls)")
    ap.add_argument("--latency-ms", type=float, default=200.0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=1, help="measure each contender this many times, interleaved")
    ap.add_argument("--skip-litellm-lane", action="store_true", help="leave out `pactjury run --no-fast-lane`")
    ap.add_argument("--faults", action="store_true", help="only measure what a failed call costs, vs a reply")
    ap.add_argument("--workers", type=int, nargs="+", help="only `pactjury run --workers W` for each W, vs the first")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--bare", choices=["litellm", "aiohttp"], help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        return serve(args.latency_ms)
    if args.faults:
        return fault_costs()
    if args.bare:
        loop = bare_litellm if args.bare == "litellm" else bare_aiohttp
        return asyncio.run(loop(args.url, args.n, args.concurrency))

    calls = args.n * (JUDGES + 1)
    if args.workers:
        return workers_speedup(args, calls)
    server, url = start_server(args.latency_ms)
    results: dict[str, list[dict[str, Any]]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            suite, panel = write_files(Path(tmp) / "suite", args.n, url, args.concurrency)
            contenders = {
                "pactjury run (fast lane)": lambda i: pactjury_argv(
                    suite, panel, url, Path(tmp) / f"f{i}.duckdb", args.concurrency, []
                ),
                "pactjury run --no-fast-lane": lambda i: pactjury_argv(
                    suite, panel, url, Path(tmp) / f"l{i}.duckdb", args.concurrency, ["--no-fast-lane"]
                ),
                "bare litellm.acompletion loop": lambda i: [
                    sys.executable,
                    __file__,
                    "--bare",
                    "litellm",
                    "--url",
                    url,
                    "-n",
                    str(args.n),
                    "--concurrency",
                    str(args.concurrency),
                ],
                "bare aiohttp loop (the floor)": lambda i: [
                    sys.executable,
                    __file__,
                    "--bare",
                    "aiohttp",
                    "--url",
                    url,
                    "-n",
                    str(args.n),
                    "--concurrency",
                    str(args.concurrency),
                ],
            }
            if args.skip_litellm_lane:
                del contenders["pactjury run --no-fast-lane"]
            measure(contenders["bare aiohttp loop (the floor)"](0), url, server.pid, Path(tmp))  # warm-up
            for i in range(args.repeat):
                for name, argv in contenders.items():
                    results.setdefault(name, []).append(measure(argv(i), url, server.pid, Path(tmp)))
            votes = check_votes(Path(tmp) / "f0.duckdb", calls)
    finally:
        server.terminate()
        server.wait()

    ideal = calls * args.latency_ms / 1000 / args.concurrency
    print(
        f"N={args.n} cases x (1 target + {JUDGES} judges) = {calls} calls, latency {args.latency_ms:g} ms, "
        f"concurrency {args.concurrency}, {os.cpu_count()} CPUs, ideal call phase {ideal:.2f} s; "
        f"fast-lane run stored {votes}"
    )
    print(
        f"{'':<40} {'wall s':>7} {'CPU ms/':>8} {'peak RSS':>8} {'in flight':>10} {'calls s':>7} "
        f"{'vs bare litellm: wall, CPU, RSS':<21}  {'reqs':>5} {'server CPU':>5}"
    )
    print(f"{'':<40} {'':>7} {'call':>8} {'MB':>8} {'mean peak':>10} {'':>7}")
    base = min(results["bare litellm.acompletion loop"], key=lambda m: m["wall"])
    for name, runs in results.items():
        for m in runs:
            print(row(name, m, calls, base, args.concurrency))
    fast = min(results["pactjury run (fast lane)"], key=lambda m: m["wall"])
    checks = [
        ("wall vs bare litellm", fast["wall"] / base["wall"], TARGETS["wall"], "x"),
        ("CPU ms per call", 1000 * fast["cpu"] / calls, TARGETS["cpu_ms"], ""),
        ("peak RSS MB", fast["rss_mb"], TARGETS["rss_mb"], ""),
    ]
    for what, got, limit, unit in checks:
        print(f"target {what:<22} {got:8.2f}{unit} <= {limit:g}{unit}: {'met' if got <= limit else 'MISSED'}")
    need = TARGETS["in_flight"] * args.concurrency
    print(
        f"target {'mean in flight':<22} {fast['in_flight']:8.2f} >= {need:g}: "
        f"{'met' if fast['in_flight'] >= need else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
