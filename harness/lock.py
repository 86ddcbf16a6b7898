"""One run at a time per store: an exclusive `flock` held on a lock file beside the DuckDB file.

The kernel frees the lock when its holder dies (kill -9, power loss), so a stale lock cannot block a store and no
pid check is needed. The file holds the holder's pid, host, start time and command, for the message a refused run
prints. It is removed on release, while still locked; a process that opened the old file before it was removed sees
that its file is no longer the one at the path and tries again. Re-entrant within a process (`run --due` holds it
across several runs).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.errors import PactjuryError, StoreError

_HELD: dict[str, tuple[int, int]] = {}  # lock path -> (open descriptor, re-entry depth) in this process


class LockHeld(PactjuryError):
    """Another live process holds the store's run lock (exit 2)."""


def lock_path(db: Path) -> Path:
    return Path(f"{db}.lock")


def _holder(fd: int) -> dict[str, Any]:
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8", "replace") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _describe(db: Path, path: Path, info: dict[str, Any]) -> str:
    return (
        f"{db}: another pactjury run holds the lock (pid {info.get('pid', '?')}, started "
        f"{info.get('started_at', '?')}, command {info.get('command', '?')!r}; lock file {path}); "
        "not starting an overlapping run"
    )


def _open(path: Path) -> int:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    except OSError as exc:
        raise StoreError(
            f"{path}: cannot create the store's lock file ({exc.strerror}); is the database's directory writable?"
        ) from None


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def acquire(db: Path, command: str = "run") -> Path:
    path = lock_path(db)
    key = str(path.resolve())
    if key in _HELD:
        fd, depth = _HELD[key]
        _HELD[key] = (fd, depth + 1)
        return path
    for _ in range(5):
        fd = _open(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            info = _holder(fd)
            os.close(fd)
            raise LockHeld(_describe(db, path, info)) from None
        if not _same_file(fd, path):  # its holder removed it between our open and our lock: take the new one
            os.close(fd)
            continue
        me = dict(
            pid=os.getpid(),
            host=socket.gethostname(),
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            command=command,
        )
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        _HELD[key] = (fd, 1)
        return path
    raise LockHeld(f"{db}: could not take the run lock {path} (contended); try again")


def release(path: Path) -> None:
    key = str(path.resolve())
    fd, depth = _HELD.get(key, (-1, 0))
    if depth > 1:
        _HELD[key] = (fd, depth - 1)
        return
    if depth == 0:
        return
    del _HELD[key]
    if _same_file(fd, path):
        path.unlink(missing_ok=True)  # still locked: nobody can take the file being removed
    os.close(fd)  # frees the lock


@contextmanager
def run_lock(db: Path, command: str = "run") -> Iterator[Path]:
    path = acquire(Path(db), command)
    try:
        yield path
    finally:
        release(path)
