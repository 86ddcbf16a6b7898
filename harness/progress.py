"""Run progress: a live bar with rate and ETA on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class Progress:
    def __init__(self, total: int, done: int = 0, *, stream: TextIO | None = None, enabled: bool = True):
        self.total, self.done, self.errors = total, done, 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and self.stream.isatty()
        self.start = time.monotonic()
        self.base = done
        self._last_line = 0.0
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        if self.tty:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as Bar

            self._bar = Bar(
                TextColumn("[bold]cases"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[errs]}"),
                console=Console(file=self.stream),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task("run", total=self.total, completed=self.done, rate="", errs="")
        return self

    def advance(self, target_error: bool = False) -> None:
        self.done += 1
        self.errors += int(target_error)
        if not self.enabled:
            return
        if self._bar is not None:
            errs = f"[red]{self.errors} target errors" if self.errors else ""
            rate = self.rate()
            shown = f"{rate:.1f}/s" if rate >= 1 else f"{60 * rate:.1f}/min"
            self._bar.update(self._task, completed=self.done, rate=shown, errs=errs)
            return
        now = time.monotonic()
        if now - self._last_line >= 5.0 or self.done == self.total:
            self._last_line = now
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def rate(self) -> float:
        elapsed = time.monotonic() - self.start
        return (self.done - self.base) / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        rate = self.rate()
        left = self.total - self.done
        eta = f"{left / rate:.0f}s" if rate > 0 else "?"
        pct = 100.0 * self.done / self.total if self.total else 100.0
        errs = f", {self.errors} target errors" if self.errors else ""
        speed = f"{rate:.1f} cases/s" if rate >= 1 else f"{60 * rate:.1f} cases/min"  # slow local models too
        return f"progress: {self.done}/{self.total} cases ({pct:.0f}%), {speed}, ETA {eta}{errs}"

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()
