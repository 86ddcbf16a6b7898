"""pytest integration: `pytest --pactjury SUITE --pactjury-target T` makes each clause a test that fails when breached.

Loaded by every pytest run in an environment where pactjury is installed (a `pytest11` entry point), so it is
inert unless `--pactjury` is given and imports nothing heavy: a suite runs as `python -m harness.cli run ...
--json` in a subprocess, and its JSON summary becomes the test items. The `pactjury_run` fixture runs a suite
from inside a test and returns the same summary.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

MARKER = "pactjury"


@dataclass(frozen=True)
class SuiteRun:
    """One `pactjury run`: its exit status, JSON summary (None when it wrote none) and what it printed to stderr."""

    suite: str
    returncode: int
    summary: dict[str, Any] | None
    stderr: str = ""
    command: tuple[str, ...] = field(default=())

    @property
    def clauses(self) -> dict[str, dict[str, Any]]:
        return {c["clause_id"]: c for c in (self.summary or {}).get("clauses", [])}

    @property
    def breached(self) -> list[str]:
        return [cid for cid, c in self.clauses.items() if c["status"] == "breached"]

    @property
    def decision(self) -> str | None:
        return ((self.summary or {}).get("decision") or {}).get("decision")


def run_suite(
    suite: str | Path, target: str, panel: str | None = None, *, db: str | Path | None = None, extra: Sequence[str] = ()
) -> SuiteRun:
    """Run one suite through the CLI in a subprocess (its own interpreter, store lock and event loop)."""
    command = [sys.executable, "-m", "harness.cli", "run", str(suite), "--target", target, "--json", "--no-progress"]
    if panel:
        command += ["--panel", panel]
    if db:
        command += ["--db", str(db)]
    command += list(extra)
    env = {**os.environ}
    env.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # litellm would otherwise fetch its price table
    proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    try:
        summary = json.loads(proc.stdout) if proc.stdout.strip() else None
    except json.JSONDecodeError:
        summary = None
    return SuiteRun(
        str(suite), proc.returncode, summary if isinstance(summary, dict) else None, proc.stderr, tuple(command)
    )


# ---------------------------------------------------------------- options and collection


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pactjury", "pactjury: run pactjury suites as tests")
    group.addoption(
        "--pactjury",
        action="append",
        default=[],
        metavar="SUITE",
        help="run this pactjury suite (repeatable); each clause becomes a test that fails when breached",
    )
    group.addoption("--pactjury-target", metavar="TARGET", help="the target of the suites (as `pactjury run --target`)")
    group.addoption("--pactjury-panel", metavar="PANEL", help="judge panel for the jury clauses (default: none)")
    group.addoption(
        "--pactjury-db",
        metavar="FILE",
        help="DuckDB store (default: pactjury's, $PACTJURY_DB or results/pactjury.duckdb)",
    )
    group.addoption(
        "--pactjury-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="pass one more argument to `pactjury run` (e.g. --pactjury-arg=--no-adversarial)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}: a pactjury clause (select them alone with -m {MARKER})")
    if config.getoption("pactjury") and not config.getoption("pactjury_target"):
        raise pytest.UsageError("--pactjury needs --pactjury-target (as `pactjury run --target`)")


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    suites = config.getoption("pactjury")
    if not suites:
        return
    for suite in suites:
        run = run_suite(
            suite,
            config.getoption("pactjury_target"),
            config.getoption("pactjury_panel"),
            db=config.getoption("pactjury_db"),
            extra=config.getoption("pactjury_arg"),
        )
        collector = PactjurySuite.from_parent(session, name=f"pactjury:{suite}", nodeid=f"pactjury:{suite}")
        collector.run = run
        items.extend(collector.collect())


class PactjuryFailure(Exception):
    """A breached clause, or a run that produced no summary: shown as its message alone, no traceback."""


class PactjurySuite(pytest.Collector):
    """One suite's run; its items are the clauses of the run's summary."""

    run: SuiteRun

    def collect(self) -> Iterator[pytest.Item]:
        if self.run.summary is None:
            yield PactjuryClause.from_parent(self, name="run", clause=None)
            return
        for clause in self.run.summary.get("clauses", []):
            yield PactjuryClause.from_parent(self, name=clause["clause_id"], clause=clause)


class PactjuryClause(pytest.Item):
    """A clause: passes when met, fails when breached, skips when undecided (pending jury, inconclusive, no evidence)."""

    def __init__(self, *, clause: dict[str, Any] | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clause = clause
        self.add_marker(MARKER)

    def runtest(self) -> None:
        run: SuiteRun = self.parent.run  # type: ignore[union-attr]
        if self.clause is None:
            last = (run.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1]
            raise PactjuryFailure(f"pactjury run {run.suite} exited {run.returncode} without a summary: {last}")
        from harness.report.junit import evidence_line

        status, line = self.clause["status"], evidence_line(self.clause)
        where = f"run {(run.summary or {}).get('run', {}).get('run_id')}"
        if status == "breached":
            failing = ", ".join(self.clause.get("failing_cases") or [])
            raise PactjuryFailure(
                f"clause {self.name} ({self.clause['severity']}) {line}"
                + (f"; failing cases: {failing}" if failing else "")
                + f" [{where}]"
            )
        if status != "met":
            pytest.skip(f"clause {self.name} {line} [{where}]")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, PactjuryFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.parent.name}::{self.name}"  # type: ignore[union-attr]


@pytest.fixture
def pactjury_run(tmp_path: Path) -> Callable[..., SuiteRun]:
    """`pactjury_run(suite, target, panel=None, *extra, db=None)`: run a suite (into a temporary store unless
    `db` is given) and return its SuiteRun, to assert on its clauses, breaches and decision."""

    def run(
        suite: str | Path, target: str, panel: str | None = None, *extra: str, db: str | Path | None = None
    ) -> SuiteRun:
        return run_suite(suite, target, panel, db=db or tmp_path / "pactjury.duckdb", extra=extra)

    return run
