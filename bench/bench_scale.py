"""Benchmark: `pactjury run --workers N` at 0 ms latency, and peak RSS against suite size.

A deterministic Python target (no waiting: all the work is the harness's CPU), a 3-clause pact, each run a
`pactjury run` subprocess. Printed from one run: wall per run, the speed-up of each worker count over
--workers 1, and the peak RSS of the driver and of its largest worker (VmHWM, sampled from /proc), with the
ratio between the largest and the smallest suite. Linux only (reads /proc).
  python bench/bench_scale.py -n 2000 --workers 1 2
  python bench/bench_scale.py --rss 2000 20000 [--executor ray]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from suitefiles import BASIC_PACT, write_agent  # noqa: E402


def write_suite(root: Path, n: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pact.yaml").write_text(json.dumps(BASIC_PACT))
    cases = [
        {
            "id": f"case-{i:06d}",
            "clauses": ["says-hello", "label-right", "tone"],
            "input": f"hello number {i}",
            "expected": {"label": "even" if i % 2 == 0 else "odd"},
        }
        for i in range(n)
    ]
    (root / "suite.yaml").write_text(json.dumps({"id": f"scale-{n}", "cases": cases}))  # JSON is YAML
    write_agent(root)
    return root


def _hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def run(suite: Path, db: Path, workers: int, executor: str, concurrency: int) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "harness.cli",
        "run",
        str(suite),
        "--target",
        f"python:{suite / 'agent.py'}:respond",
        "--db",
        str(db),
        "--workers",
        str(workers),
        "--executor",
        executor,
        "--concurrency",
        str(concurrency),
        "--no-progress",
        "--no-report",
        "--quiet",
    ]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peaks: dict[int, int] = {}

    def sample() -> None:
        while proc.poll() is None:
            for pid in [proc.pid, *_children(proc.pid)]:
                peaks[pid] = max(peaks.get(pid, 0), _hwm_kb(pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - t
    sampler.join()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"run failed ({proc.returncode}): {err[-500:]}")
    driver = peaks.pop(proc.pid, 0)
    return dict(wall=wall, driver_mb=driver / 1024, worker_mb=max(peaks.values(), default=0) / 1024)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rss", type=int, nargs="*", help="suite sizes to compare peak RSS at (e.g. 2000 20000)")
    ap.add_argument("--rss-workers", type=int, default=2)
    ap.add_argument("--executor", default="local")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=2, help="runs per setting, interleaved; the best is shown")
    args = ap.parse_args()
    print(f"cpus={os.cpu_count()} concurrency={args.concurrency} executor={args.executor}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.rss:
            got = {}
            for n in args.rss:
                suite = write_suite(Path(tmp) / f"s{n}", n)
                got[n] = run(suite, Path(tmp) / f"rss{n}.duckdb", args.rss_workers, args.executor, args.concurrency)
                g = got[n]
                print(
                    f"N={n:>7} workers={args.rss_workers}  wall {g['wall']:7.2f} s  "
                    f"driver peak RSS {g['driver_mb']:6.0f} MB  largest worker {g['worker_mb']:6.0f} MB"
                )
            lo, hi = got[min(got)], got[max(got)]
            print(
                f"peak RSS ratio N={max(got)} / N={min(got)}: driver {hi['driver_mb'] / lo['driver_mb']:.2f}x, "
                f"worker {hi['worker_mb'] / max(lo['worker_mb'], 1):.2f}x (suite {max(got) / min(got):.0f}x)"
            )
            return
        suite = write_suite(Path(tmp) / "s", args.n)
        best: dict[int, float] = {}
        for i in range(args.repeat):
            for w in args.workers:
                r = run(suite, Path(tmp) / f"w{w}-{i}.duckdb", w, args.executor, args.concurrency)
                best[w] = min(best.get(w, r["wall"]), r["wall"])
        base = best[args.workers[0]]
        for w in args.workers:
            print(
                f"N={args.n} workers={w}  wall {best[w]:7.2f} s  ({args.n / best[w]:6.0f} cases/s)  "
                f"speed-up vs workers={args.workers[0]}: {base / best[w]:.2f}x"
            )


if __name__ == "__main__":
    main()
