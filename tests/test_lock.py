"""The store's run lock: held by the kernel, freed when its holder dies, and a clear error where it cannot be made."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import StoreError
from harness.lock import LockHeld, acquire, lock_path, release, run_lock

HOLD = (
    "import sys, time; from harness.lock import acquire; acquire(sys.argv[1], 'holder'); "
    "print('held', flush=True); time.sleep(60)"
)


def test_a_lock_held_by_another_process_is_refused_and_freed_when_it_is_killed(tmp_path):
    db = tmp_path / "s.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockHeld, match=f"pid {holder.pid}.*'holder'"):
            acquire(db)
        os.kill(holder.pid, signal.SIGKILL)  # no clean-up runs: the kernel frees the flock
        holder.wait(10)
        with run_lock(db) as path:
            assert json.loads(path.read_text())["pid"] == os.getpid()
        assert not lock_path(db).exists()
    finally:
        holder.kill()


def test_the_lock_is_reentrant_within_a_process(tmp_path):
    db = tmp_path / "s.duckdb"
    with run_lock(db), run_lock(db):
        assert lock_path(db).exists()
    assert not lock_path(db).exists()
    release(lock_path(db))  # releasing what is not held does nothing


def test_a_lock_that_cannot_be_created_is_a_one_line_error(tmp_path, capsys):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(StoreError, match="cannot create the store's lock file"):
        acquire(not_a_dir / "s.duckdb")
    code = main(["status", "--record", "--db", str(not_a_dir / "s.duckdb")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "lock file" in err and "Traceback" not in err


def test_a_stale_lock_file_left_without_a_holder_is_taken(tmp_path):
    db = tmp_path / "s.duckdb"
    lock_path(db).write_text(json.dumps({"pid": 999999, "started_at": "2020-01-01", "command": "run"}))
    started = time.monotonic()
    with run_lock(db):
        pass
    assert time.monotonic() - started < 1 and not Path(f"{db}.lock").exists()
