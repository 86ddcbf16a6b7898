"""The session-wide network guard: non-loopback connections fail at once, loopback and AF_UNIX still work."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(20)

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("address", [("10.255.255.1", 9), ("1.1.1.1", 443), ("2606:4700:4700::1111", 443)])
def test_non_loopback_connect_is_refused_immediately(network_guard, address):
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    with network_guard.expect_blocked() as caught:
        start = time.perf_counter()
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            with pytest.raises(OSError, match="pactjury tests: outbound connection to .* blocked"):
                s.connect(address)
            with pytest.raises(OSError, match="blocked"):
                s.connect_ex(address)
        assert time.perf_counter() - start < 1.0
    assert len(caught) == 2 and address[0] in caught[0]


def test_create_connection_and_dns_fail_fast(network_guard):
    with network_guard.expect_blocked() as caught:
        start = time.perf_counter()
        with pytest.raises(OSError, match="blocked"):
            socket.create_connection(("example.com", 80), timeout=5, trust_env=False)
        with pytest.raises(socket.gaierror, match="blocked"):
            socket.getaddrinfo("pypi.org", 443)
        with pytest.raises(OSError, match="blocked"):
            socket.create_connection(("8.8.8.8", 53), timeout=5, trust_env=False)
        assert time.perf_counter() - start < 1.0
    assert len(caught) == 3


def test_asyncio_and_http_clients_are_refused(network_guard):
    import httpx

    async def attempt():
        with pytest.raises(OSError):
            await asyncio.open_connection("10.255.255.1", 9)

    with network_guard.expect_blocked() as caught:
        start = time.perf_counter()
        asyncio.run(attempt())
        with pytest.raises(httpx.ConnectError):
            httpx.get("http://10.255.255.1:9/", timeout=5, trust_env=False)
        with pytest.raises(httpx.ConnectError):
            httpx.get("https://api.openai.com/v1/models", timeout=5, trust_env=False)
        assert time.perf_counter() - start < 1.0
    assert len(caught) >= 3


def test_loopback_and_unix_sockets_still_work(tmp_path):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=2) as client:
            conn, _ = server.accept()
            client.sendall(b"ping")
            assert conn.recv(4) == b"ping"
            conn.close()
        with socket.create_connection(("localhost", server.getsockname()[1]), timeout=2):
            pass
    if socket.has_ipv6:
        try:
            server6 = socket.socket(socket.AF_INET6)
            server6.bind(("::1", 0))
        except OSError:
            pass  # no IPv6 loopback on this machine
        else:
            with server6:
                server6.listen()
                with socket.socket(socket.AF_INET6) as c6:
                    c6.connect(server6.getsockname()[:2])
    path = str(tmp_path / "s.sock")
    with socket.socket(socket.AF_UNIX) as userver:
        userver.bind(path)
        userver.listen()
        with socket.socket(socket.AF_UNIX) as uclient:
            uclient.connect(path)


def test_an_unexpected_attempt_fails_the_run(tmp_path):
    """Run a tiny pytest session with this conftest: a test that reaches outside makes the run fail."""
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_leak.py").write_text(
        "import socket\n"
        "def test_leak():\n"
        "    try:\n"
        "        socket.create_connection(('10.255.255.1', 9), timeout=1)\n"
        "    except OSError:\n"
        "        pass  # swallowing the error must not hide the attempt\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "."],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "outbound connection to 10.255.255.1:9 blocked" in out
    assert "blocked outbound network attempts" in out
