"""Test-session setup: a network guard that allows loopback only, and a scripted OpenAI-compatible server."""

from __future__ import annotations

import os

# Before anything can import litellm: without it litellm downloads its price table at import.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import contextlib  # noqa: E402
import ipaddress  # noqa: E402
import socket  # noqa: E402
import threading  # noqa: E402
from typing import Any, Iterator  # noqa: E402

import pytest  # noqa: E402

from harness.openai_server import Fault, Reply, ScriptedResponder, ServerHandle, start_in_thread  # noqa: E402

# ---------------------------------------------------------------- network guard

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def _is_loopback(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not isinstance(host, str):
        return False
    if host.lower() in _LOCAL_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 scope id
    except ValueError:
        return False  # a hostname other than localhost: connect() would resolve it in C, unguarded
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def _is_ip_literal(host: Any) -> bool:
    try:
        ipaddress.ip_address(str(host).split("%", 1)[0])
        return True
    except ValueError:
        return False


class NetworkGuard:
    """Refuses non-loopback connections at the socket layer and remembers every attempt."""

    def __init__(self) -> None:
        self.blocked: list[str] = []
        self._lock = threading.Lock()
        self._catchers: list[list[str]] = []
        self._installed = False
        self._own_hostname = socket.gethostname()

    def _block(self, what: str, exc_type: type[OSError] = OSError) -> OSError:
        message = f"pactjury tests: {what} blocked"
        with self._lock:
            if self._catchers:
                self._catchers[-1].append(message)
            else:
                self.blocked.append(f"{message} (thread {threading.current_thread().name})")
        return exc_type(message)

    def _check(self, family: int, address: Any) -> None:
        if family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
            if not _is_loopback(address[0]):
                raise self._block(f"outbound connection to {address[0]}:{address[1]}")

    @contextlib.contextmanager
    def expect_blocked(self) -> Iterator[list[str]]:
        """Blocked attempts made inside the block go to the yielded list, not to the session record."""
        caught: list[str] = []
        with self._lock:
            self._catchers.append(caught)
        try:
            yield caught
        finally:
            with self._lock:
                self._catchers.remove(caught)

    def install(self) -> None:
        if self._installed:
            return
        self._installed = True
        guard = self
        real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
        real_create_connection, real_getaddrinfo = socket.create_connection, socket.getaddrinfo
        real_gethostbyname = socket.gethostbyname

        def connect(self: socket.socket, address: Any) -> None:
            guard._check(self.family, address)
            return real_connect(self, address)

        def connect_ex(self: socket.socket, address: Any) -> int:
            guard._check(self.family, address)
            return real_connect_ex(self, address)

        def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
            if not _is_loopback(address[0]) and address[0] != guard._own_hostname:
                raise guard._block(f"outbound connection to {address[0]}:{address[1]}")
            return real_create_connection(address, *args, **kwargs)

        def allowed_name(host: Any) -> bool:
            # No DNS: IP literals pass (connect() judges them), so do loopback names and our own hostname.
            return host is None or _is_loopback(host) or _is_ip_literal(host) or host == guard._own_hostname

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if not allowed_name(host if not isinstance(host, bytes) else host.decode(errors="replace")):
                raise guard._block(f"DNS lookup of {host!r}", socket.gaierror)
            return real_getaddrinfo(host, *args, **kwargs)

        def gethostbyname(host: str) -> str:
            if not allowed_name(host):
                raise guard._block(f"DNS lookup of {host!r}", socket.gaierror)
            return real_gethostbyname(host)

        socket.socket.connect = connect  # type: ignore[method-assign]
        socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
        socket.create_connection = create_connection  # type: ignore[assignment]
        socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
        socket.gethostbyname = gethostbyname  # type: ignore[assignment]


GUARD = NetworkGuard()
GUARD.install()  # at conftest import, so collection and session fixtures are covered too


@pytest.fixture(scope="session")
def network_guard() -> NetworkGuard:
    return GUARD


@pytest.fixture(autouse=True)
def _no_outbound_connections() -> Iterator[None]:
    """Fail the test (at teardown) that made an unexpected outbound attempt, for attribution."""
    before = len(GUARD.blocked)
    yield
    new = GUARD.blocked[before:]
    if new:
        pytest.fail("outbound network attempts during this test:\n  " + "\n  ".join(new), pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Catches attempts outside any test too (collection, session fixtures, background threads).
    if GUARD.blocked and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if GUARD.blocked:
        terminalreporter.section("blocked outbound network attempts", sep="!", red=True, bold=True)
        for line in GUARD.blocked:
            terminalreporter.write_line(line)
        terminalreporter.write_line("the run fails: tests must not reach outside the loopback interface")


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

    def script(self, model: str, *items: Reply | Fault) -> "FakeLLM":
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
