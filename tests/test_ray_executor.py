"""`run --executor ray` on a real local Ray cluster (ray.init(num_cpus=2)): shards as Ray tasks streaming their
records to the one writer, interrupted and resumed, judges whose cache lookups cross to the driver's store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from suitefiles import write_panel
from test_workers import called, events, make_suite, rows, run_ids, wait_for_calls

from harness.testing.openai_server import Reply

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'pactjury[ray]')")

PJ = [sys.executable, "-m", "harness.cli"]
PASS = json.dumps({"verdict": "pass", "rationale": "Courteous."})


@pytest.fixture(scope="module")
def cluster(network_guard: object) -> Iterator[str]:
    """A local two-CPU cluster; its address, for `--ray-address`. Its dashboard probes cloud metadata addresses
    at start (Ray's usage reporting looks for a cloud provider); the guard refuses those and only those."""
    saved = {k: os.environ.get(k) for k in ("RAY_USAGE_STATS_ENABLED", "RAY_AUTH_MODE")}
    os.environ.update(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")  # no token file in $HOME
    guard: object = network_guard
    with guard.expect_blocked_in_children() as refused:  # type: ignore[attr-defined]
        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
        address = ray.get_runtime_context().gcs_address
        _wait_for_dashboard_probe(guard)
    assert all("ray/dashboard" in line for line in refused), refused
    try:
        yield address
    finally:
        ray.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _wait_for_dashboard_probe(guard: object, timeout: float = 15.0) -> None:
    log = getattr(guard, "child_log", None)
    deadline = time.monotonic() + timeout
    while log and time.monotonic() < deadline:
        if "ray/dashboard" in Path(log).read_text(errors="replace"):
            time.sleep(1.0)  # it tries each cloud's address in turn
            return
        time.sleep(0.2)


def pj(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PJ, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def test_a_ray_run_interrupted_and_resumed_redoes_nothing(tmp_path, cluster):
    root, calls, _ = make_suite(tmp_path, 300, sleep=0.05)
    db = tmp_path / "r.duckdb"
    ray_args = ("--executor", "ray", "--ray-address", cluster, "--concurrency", "4", "--no-progress", "--no-report")
    proc = subprocess.Popen(
        [*PJ, "run", str(root), "--target", f"python:{root / 'agent.py'}:respond", "--db", str(db), *ray_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_calls(calls, 60)
    time.sleep(0.7)  # past one flush interval, so some cases are stored
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert "Resume with: pactjury run --resume" in err and "Traceback" not in err
    (run_id,) = run_ids(db)
    stored = {c for (c,) in rows(db, "SELECT case_id FROM transcripts")}
    assert 0 < len(stored) < 300
    assert events(db, run_id)[-1] == ("aborted", f"interrupted: {len(stored)} of 300 cases stored")
    time.sleep(0.5)  # a cancelled task may finish the call it was in
    before = len(called(calls))

    resumed = pj("run", "--resume", run_id, "--db", db, *ray_args)
    assert resumed.returncode == 0, resumed.stderr
    assert not stored & {case for _, case in called(calls)[before:]}, "a stored case was run again"
    assert len({pid for pid, _ in called(calls)[before:]}) == 2  # two Ray workers, one per CPU
    assert rows(db, "SELECT count(*), count(DISTINCT case_id) FROM transcripts") == [(300, 300)]
    assert rows(db, "SELECT count(*) FROM verdicts WHERE outcome = 'pass'") == [(600,)]
    assert [e for e, _ in events(db, run_id)][-2:] == ["resumed", "completed"]


def test_a_jury_on_ray_asks_the_drivers_store_for_cached_votes(tmp_path, cluster, fake_llm):
    fake_llm.responder.default = lambda request: Reply(text=PASS)
    root, _, _ = make_suite(tmp_path, 12)
    panel = write_panel(tmp_path / "judges", fake_llm.url, [{"name": "judge-a"}, {"name": "judge-b"}])
    db = tmp_path / "r.duckdb"
    args = (
        "run",
        root,
        "--target",
        f"python:{root / 'agent.py'}:respond",
        "--db",
        db,
        "--panel",
        panel,
        "--executor",
        "ray",
        "--ray-address",
        cluster,
        "--no-progress",
        "--no-report",
    )
    first = pj(*args)
    assert first.returncode == 0, first.stderr
    assert len(fake_llm.requests) == 24  # 12 cases x 2 judges, called from the Ray workers
    second = pj(*args)
    assert second.returncode == 0, second.stderr
    assert len(fake_llm.requests) == 24, "the judge calls were made again, not answered from the store"
    assert rows(db, "SELECT count(*) FILTER (cached) FROM votes WHERE run_id = ?", (run_ids(db)[-1],)) == [(24,)]
