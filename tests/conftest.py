"""Test-session setup: a network guard that allows loopback only, and a scripted OpenAI-compatible server."""

from __future__ import annotations

import os

# Before anything can import litellm: without it litellm downloads its price table at import.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import atexit  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any

import pytest  # noqa: E402

# ---------------------------------------------------------------- network guard
# The socket wrapping lives in netguard/netguard.py; netguard/sitecustomize.py installs the same guard in
# every child Python the tests start (it inherits PYTHONPATH and PACTJURY_NETGUARD_LOG from us), and the
# children append each blocked attempt to that log, which we read back after each test and at the end.

_NETGUARD_DIR = str(Path(__file__).resolve().with_name("netguard"))
if _NETGUARD_DIR not in sys.path:
    sys.path.insert(0, _NETGUARD_DIR)


def _precompile(directory: str) -> None:
    """Children run with PYTHONDONTWRITEBYTECODE=1: without a ready .pyc each would compile our files (~4 ms)."""
    try:
        import compileall

        compileall.compile_dir(directory, maxlevels=0, quiet=2)  # skips files whose .pyc is current
    except Exception:  # a read-only checkout: children compile in memory, slower but correct
        pass


_precompile(_NETGUARD_DIR)

import netguard  # noqa: E402
from netguard import NetworkGuard  # noqa: E402

GUARD = netguard.GUARD
GUARD.install()  # at conftest import, so collection and session fixtures are covered too
GUARD.log_path = None  # this process is a test session: keep our own record (we may be a guarded child)

_SAVED_ENV = {name: os.environ.get(name) for name in ("PYTHONPATH", netguard.LOG_ENV)}
_LOG_DIR = tempfile.mkdtemp(prefix="pactjury-netguard-")
GUARD.child_log = os.path.join(_LOG_DIR, "children.log")
open(GUARD.child_log, "wb").close()
os.environ[netguard.LOG_ENV] = GUARD.child_log
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_NETGUARD_DIR, _SAVED_ENV["PYTHONPATH"]) if p)
atexit.register(shutil.rmtree, _LOG_DIR, True)  # pytest_unconfigure does it too; this covers a crash

from harness.testing.openai_server import Fault, Reply, ScriptedResponder, ServerHandle, start_in_thread  # noqa: E402


@pytest.fixture(scope="session")
def network_guard() -> NetworkGuard:
    return GUARD


@pytest.fixture(autouse=True)
def _no_outbound_connections() -> Iterator[None]:
    """Fail the test (at teardown) that made an unexpected outbound attempt, for attribution."""
    before, before_children = len(GUARD.blocked), len(GUARD.child_blocked)
    yield
    GUARD.collect_children()
    new = GUARD.blocked[before:] + [f"child {line}" for line in GUARD.child_blocked[before_children:]]
    if new:
        pytest.fail("outbound network attempts during this test:\n  " + "\n  ".join(new), pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Catches attempts outside any test too (collection, session fixtures, background threads, late children).
    GUARD.collect_children()
    if GUARD.all_unexpected and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if GUARD.all_unexpected:
        terminalreporter.section("blocked outbound network attempts", sep="!", red=True, bold=True)
        for line in GUARD.all_unexpected:
            terminalreporter.write_line(line)
        terminalreporter.write_line("the run fails: tests must not reach outside the loopback interface")


def pytest_unconfigure(config: pytest.Config) -> None:
    for name, value in _SAVED_ENV.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    shutil.rmtree(_LOG_DIR, ignore_errors=True)


# ---------------------------------------------------------------- fake OpenAI-compatible server


class FakeLLM:
    """A running scripted server: point litellm at `.url` with model `openai/<name>`."""

    def __init__(self, handle: ServerHandle, responder: ScriptedResponder):
        self.handle = handle
        self.responder = responder

    @property
    def url(self) -> str:
        return self.handle.url

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.responder.requests

    def script(self, model: str, *items: Reply | Fault) -> FakeLLM:
        self.responder.script(model, *items)
        return self


@pytest.fixture()
def fake_llm() -> Iterator[FakeLLM]:
    responder = ScriptedResponder()
    with start_in_thread(responder) as handle:
        yield FakeLLM(handle, responder)


@pytest.fixture(scope="session")
def fake_llm_session() -> Iterator[FakeLLM]:
    """Shared across the session: use model names unique to your test; scripts and requests accumulate."""
    responder = ScriptedResponder()
    with start_in_thread(responder) as handle:
        yield FakeLLM(handle, responder)


# ---------------------------------------------------------------- the shared evidence store


@pytest.fixture(scope="session")
def evs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The store filled by real runs (tests/evidence_store.py), built once per session on first use; read only."""
    import evidence_store

    return evidence_store.build(tmp_path_factory.getbasetemp())


@pytest.fixture()
def store(evs: Any) -> Iterator[Any]:
    """A read-only connection to the shared evidence store."""
    from harness.store import Store

    with Store(evs.db, read_only=True) as s:
        yield s
