"""One run at a time per store: a lock file beside the DuckDB file, created atomically with O_EXCL.

The file holds the holder's pid, host, start time and (on Linux) the process start tick, so a lock left by a
dead process (kill -9, power loss) is recognised and taken over, and a recycled pid is not mistaken for the
holder. Taking over happens under an flock on the lock's directory: two processes that both find the same dead lock
cannot both win. The lock is re-entrant within a process (`run --due` holds it across several runs).
"""

from __future__ import annotations

import json
import os
import socket
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from harness.errors import PactjuryError

_HELD: dict[str, int] = {}  # lock path -> re-entry depth in this process


class LockHeld(PactjuryError):
    """Another live process holds the store's run lock (exit 2)."""


def lock_path(db: Path) -> Path:
    return Path(f"{db}.lock")


def _proc_start(pid: int) -> int | None:
    """The process start time in clock ticks since boot (Linux), to tell a recycled pid from the holder."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _alive(info: dict[str, Any]) -> bool:
    if info.get("host") not in (None, socket.gethostname()):
        return True  # cannot check another machine's processes: assume it is running
    pid = info.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    recorded, current = info.get("proc_start"), _proc_start(pid)
    return recorded is None or current is None or recorded == current


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text() or "{}")
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _young(path: Path, seconds: float = 10.0) -> bool:
    import time

    try:
        return time.time() - path.stat().st_mtime < seconds
    except OSError:
        return False


def _describe(db: Path, path: Path, info: dict[str, Any]) -> str:
    return (f"{db}: another pactjury run holds the lock (pid {info.get('pid', '?')}, started "
            f"{info.get('started_at', '?')}, command {info.get('command', '?')!r}; lock file {path}); "
            "not starting an overlapping run")


def acquire(db: Path, command: str = "run") -> Path:
    path = lock_path(db)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = str(path.resolve())
    if _HELD.get(key):
        _HELD[key] += 1
        return path
    me = dict(pid=os.getpid(), host=socket.gethostname(), proc_start=_proc_start(os.getpid()),
              started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), command=command)
    for _ in range(5):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            info = _read(path)
            if info is None:
                continue  # released between our attempt and the read: try again
            if (info and _alive(info)) or (not info and _young(path)):
                # an empty lock may be one whose holder is writing it right now
                raise LockHeld(_describe(db, path, info)) from None
            _take_over(path, info)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        _HELD[key] = 1
        return path
    raise LockHeld(f"{db}: could not take the run lock {path} (contended); try again")


def _take_over(path: Path, seen: dict[str, Any]) -> None:
    """Remove a dead holder's lock, unless someone replaced it since we read it."""
    import fcntl

    guard = os.open(path.parent, os.O_RDONLY)  # the directory itself: nothing is left behind
    try:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if _read(path) == seen:
            path.unlink(missing_ok=True)
    finally:
        os.close(guard)  # releases the flock


def release(path: Path) -> None:
    key = str(path.resolve())
    depth = _HELD.get(key, 0)
    if depth > 1:
        _HELD[key] = depth - 1
        return
    _HELD.pop(key, None)
    info = _read(path)
    if info and info.get("pid") == os.getpid():
        path.unlink(missing_ok=True)


@contextmanager
def run_lock(db: Path, command: str = "run") -> Iterator[Path]:
    path = acquire(Path(db), command)
    try:
        yield path
    finally:
        release(path)
