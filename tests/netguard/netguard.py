"""The pactjury test network guard: refuse every connection outside the loopback interface.

One place for the socket wrapping, used two ways:

* in the pytest process, ``tests/conftest.py`` installs ``GUARD`` and keeps blocked attempts in memory;
* in child Python processes started by the tests, ``sitecustomize.py`` (next to this file, put on
  ``PYTHONPATH`` by the conftest) installs it when ``PACTJURY_NETGUARD_LOG`` names a file, and every
  blocked attempt is appended there as one line, which the parent reads back.

Module-level imports are kept to what a fresh interpreter already has loaded (start-up cost in every
child), and ``socket`` must not be one of them: ``sitecustomize`` imports this module from inside the
import of ``socket``.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~3 ms to import; the annotations are strings anyway
    from collections.abc import Iterator
    from typing import Any

LOG_ENV = "PACTJURY_NETGUARD_LOG"
MESSAGE_PREFIX = "pactjury tests:"
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
_HERE = os.path.dirname(os.path.abspath(__file__))


def _ip(host: Any) -> Any:
    import ipaddress  # lazy: a child that never blocks anything pays nothing for it

    try:
        return ipaddress.ip_address(str(host).split("%", 1)[0])  # drop an IPv6 scope id
    except ValueError:
        return None


def is_loopback(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not isinstance(host, str):
        return False
    if host.lower() in _LOCAL_NAMES:
        return True
    ip = _ip(host)
    if ip is None:
        return False  # a hostname other than localhost: connect() would resolve it in C, unguarded
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def is_ip_literal(host: Any) -> bool:
    return _ip(host) is not None


def _stack_summary(limit: int = 5) -> str:
    """The innermost few frames outside this module, as ``file:line func`` from the caller outwards."""
    frames = []
    f = sys._getframe(1)
    while f is not None and len(frames) < limit:
        code = f.f_code
        if os.path.dirname(os.path.abspath(code.co_filename)) != _HERE:
            frames.append(f"{os.path.basename(code.co_filename)}:{f.f_lineno} {code.co_name}")
        f = f.f_back
    return " <- ".join(frames)


class NetworkGuard:
    """Refuses non-loopback connections at the socket layer and remembers every attempt.

    ``log_path`` set (child mode): each blocked attempt is also appended to that file as a line.
    ``child_log`` set (parent mode): the file this process's children append to; see
    ``collect_children`` and ``expect_blocked_in_children``.
    """

    def __init__(self) -> None:
        self.blocked: list[str] = []
        self.log_path: str | None = None
        self.child_log: str | None = None
        self.child_blocked: list[str] = []  # unexpected lines read back from child_log
        self._child_offset = 0
        self._lock = _thread.allocate_lock()
        self._catchers: list[list[str]] = []
        self._installed = False
        self._own_hostname = ""

    # ------------------------------------------------------------ blocking

    def _block(self, what: str, exc_type: type[OSError] = OSError) -> OSError:
        import threading  # here, not at the top: most children never get this far

        message = f"{MESSAGE_PREFIX} {what} blocked"
        thread = threading.current_thread().name
        with self._lock:
            if self._catchers:
                self._catchers[-1].append(message)
            else:
                self.blocked.append(f"{message} (thread {thread})")
                if self.log_path:
                    self._append_to_log(message)
        return exc_type(message)

    def _append_to_log(self, message: str) -> None:
        argv = " ".join(sys.argv)[:120]
        line = f"pid {os.getpid()}: {message} | argv: {argv} | at: {_stack_summary()}"
        data = (line.replace("\n", " ") + "\n").encode(errors="replace")
        try:  # one O_APPEND write per line: lines from concurrent children do not interleave
            fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        except OSError:
            pass  # the log went away (the session ended): the OSError raised to the caller still stands

    def _check(self, family: int, address: Any) -> None:
        import socket

        if family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
            if not is_loopback(address[0]):
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

    def install(self) -> NetworkGuard:
        with self._lock:
            if self._installed:
                return self
            self._installed = True
        import socket

        guard = self
        self._own_hostname = socket.gethostname()
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
            if not is_loopback(address[0]) and address[0] != guard._own_hostname:
                raise guard._block(f"outbound connection to {address[0]}:{address[1]}")
            return real_create_connection(address, *args, **kwargs)

        def allowed_name(host: Any) -> bool:
            # No DNS: IP literals pass (connect() judges them), so do loopback names and our own hostname.
            return host is None or is_loopback(host) or is_ip_literal(host) or host == guard._own_hostname

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
        return self

    # ------------------------------------------------------------ the parent's view of its children

    def _read_child_lines(self) -> list[str]:
        """Complete lines appended to child_log since the last read (a half-written last line waits)."""
        if not self.child_log:
            return []
        try:
            if os.stat(self.child_log).st_size <= self._child_offset:
                return []
            with open(self.child_log, "rb") as f:
                f.seek(self._child_offset)
                data = f.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1
        self._child_offset += end
        return data[:end].decode(errors="replace").splitlines()

    def collect_children(self) -> list[str]:
        """Move lines children logged since the last look to ``child_blocked`` (unexpected); returns them."""
        with self._lock:
            new = self._read_child_lines()
            self.child_blocked.extend(new)
        return new

    @contextlib.contextmanager
    def expect_blocked_in_children(self) -> Iterator[list[str]]:
        """Lines child processes log while the block runs go to the yielded list (filled when the block
        exits), not to the session record. Wait for the children inside the block."""
        self.collect_children()  # anything logged before the block is not this block's
        caught: list[str] = []
        try:
            yield caught
        finally:
            with self._lock:
                caught.extend(self._read_child_lines())

    @property
    def all_unexpected(self) -> list[str]:
        return self.blocked + [f"child {line}" for line in self.child_blocked]


GUARD = NetworkGuard()


def install_from_env() -> None:
    """For sitecustomize: in a child, install the guard logging to $PACTJURY_NETGUARD_LOG."""
    path = os.environ.get(LOG_ENV)
    if path:
        GUARD.log_path = path
        GUARD.install()
