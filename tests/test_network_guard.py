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
NETGUARD_DIR = Path(__file__).resolve().with_name("netguard")


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


def _run_nested_session(tmp_path: Path, test_source: str) -> str:
    """Run a tiny pytest session with this conftest (and the netguard directory); returns its output."""
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    shutil.copytree(NETGUARD_DIR, tmp_path / "netguard", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "test_leak.py").write_text(test_source)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "blocked outbound network attempts" in out
    return out


def test_an_unexpected_attempt_fails_the_run(tmp_path):
    """A test that reaches outside makes the run fail."""
    out = _run_nested_session(
        tmp_path,
        (
            "import socket\n"
            "def test_leak():\n"
            "    try:\n"
            "        socket.create_connection(('10.255.255.1', 9), timeout=1)\n"
            "    except OSError:\n"
            "        pass  # swallowing the error must not hide the attempt\n"
        ),
    )
    assert "outbound connection to 10.255.255.1:9 blocked" in out


def test_an_unexpected_attempt_in_a_child_fails_the_test_and_the_run(tmp_path):
    out = _run_nested_session(
        tmp_path,
        (
            "import subprocess, sys\n"
            "def test_leak_in_child():\n"
            "    code = 'import socket\\ntry:\\n    socket.create_connection((\"10.255.255.7\", 9), timeout=1)\\n'\\\n"
            "           'except OSError:\\n    pass\\n'\n"
            "    assert subprocess.run([sys.executable, '-c', code]).returncode == 0\n"
        ),
    )
    assert "outbound network attempts during this test" in out  # attributed to the test
    assert "1 error" in out  # pytest reports a failure in fixture teardown as an error
    assert "child pid " in out and "outbound connection to 10.255.255.7:9 blocked" in out


# ---------------------------------------------------------------- child processes


def test_children_inherit_the_guard_settings():
    assert os.environ["PYTHONPATH"].split(os.pathsep)[0] == str(NETGUARD_DIR)
    assert os.environ["PACTJURY_NETGUARD_LOG"]
    # nothing in the venv or the interpreter may shadow (or be shadowed by) ours unnoticed
    code = "import sitecustomize, sys; print(sitecustomize.__file__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    assert Path(out.stdout.strip()) == NETGUARD_DIR / "sitecustomize.py"


def test_a_child_connecting_outside_fails_fast_and_is_recorded(network_guard):
    code = "import socket; socket.create_connection(('10.255.255.1', 9), timeout=5)"
    with network_guard.expect_blocked_in_children() as caught:
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
        elapsed = time.perf_counter() - start
    assert proc.returncode != 0
    assert "OSError: pactjury tests: outbound connection to 10.255.255.1:9 blocked" in proc.stderr
    assert elapsed < 2.0
    assert len(caught) == 1, caught
    assert caught[0].startswith("pid ") and "outbound connection to 10.255.255.1:9 blocked" in caught[0]
    assert "<string>:1 <module>" in caught[0]  # where in the child it happened


def test_a_child_with_its_own_env_and_dns_is_guarded_too(network_guard):
    code = (
        "import socket, httpx\n"
        "for call in (lambda: socket.getaddrinfo('pypi.org', 443),\n"
        "             lambda: httpx.get('https://api.openai.com/v1/models', timeout=5, trust_env=False)):\n"
        "    try:\n        call()\n    except Exception as e:\n        print(type(e).__name__, e)\n"
    )
    with network_guard.expect_blocked_in_children() as caught:
        proc = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "SOME_VAR": "1"},
        )
    assert proc.returncode == 0, proc.stderr
    assert "gaierror pactjury tests: DNS lookup of 'pypi.org' blocked" in proc.stdout
    assert "ConnectError" in proc.stdout
    assert any("pypi.org" in line for line in caught) and any("api.openai.com" in line for line in caught)


def test_a_child_connecting_to_loopback_works(network_guard):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        code = (
            f"import socket\n"
            f"with socket.create_connection(('127.0.0.1', {server.getsockname()[1]}), timeout=5) as c:\n"
            f"    c.sendall(b'ping')\n"
            f"with socket.create_connection(('localhost', {server.getsockname()[1]}), timeout=5):\n"
            f"    pass\n"
        )
        with network_guard.expect_blocked_in_children() as caught:
            proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
            conn, _ = server.accept()
            with conn:
                conn.settimeout(10)
                assert conn.recv(4) == b"ping"
            server.accept()[0].close()
            assert proc.wait(timeout=30) == 0, proc.stderr.read()
            proc.stderr.close()
    assert caught == []


def test_the_cli_runs_with_the_guard_loaded(network_guard):
    code = (
        "import runpy, sys, socket\n"
        "assert 'netguard' in sys.modules, 'guard not installed'\n"
        "sys.argv = ['pactjury', '--help']\n"
        "runpy.run_module('harness.cli', run_name='__main__')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    plain = subprocess.run([sys.executable, "-m", "harness.cli", "--help"], capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout == proc.stdout and "usage" in plain.stdout.lower()


def test_sitecustomize_is_inert_without_the_variable():
    env = {k: v for k, v in os.environ.items() if k != "PACTJURY_NETGUARD_LOG"}
    code = "import sys, socket\nprint('netguard' in sys.modules, socket.create_connection.__module__)\n"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, env=env, check=True
    ).stdout.split()
    assert out == ["False", "socket"]
