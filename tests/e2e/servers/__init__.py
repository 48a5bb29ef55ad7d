"""Real outside servers for end-to-end tests, started and stopped by the tests themselves.

Each module holds one server, usable as a context manager and wrapped as a pytest fixture in
``tests/e2e/conftest.py``:

- ``postfix.PostfixInstance``: a private Postfix (the customer's mail server, an outbound relay);
- ``dns.DnsServer``: dnsmasq answering TXT/A/MX/CNAME records given as Python data;
- ``dovecot.DovecotInstance``: an IMAP mailbox (the Gmail-style connector's far end);
- ``browser.ChromiumBrowser``: Debian's Chromium driven by Playwright;
- ``sink.SmtpSink``: an aiosmtpd server that captures mail and can be told to fail.

Every server binds to 127.0.0.1 on a free port, keeps its files in its own temporary directory
and is stopped within a bounded time, with a hard kill as the last resort, so a failing test
leaves no daemon behind. This module holds what they share: free ports, waiting for a port,
running a command with a timeout, and the check for the Debian binaries.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

LOOPBACK = "127.0.0.1"

# Debian's paths: the tests use these exact binaries (``.ci/install-packages`` installs them).
BINARIES: dict[str, str] = {
    "postfix": "/usr/sbin/postfix",
    "postconf": "/usr/sbin/postconf",
    "postqueue": "/usr/sbin/postqueue",
    "dovecot": "/usr/sbin/dovecot",
    "doveconf": "/usr/bin/doveconf",
    "dnsmasq": "/usr/sbin/dnsmasq",
    "chromium": "/usr/bin/chromium",
}

INSTALL_HINT = "the Debian packages are installed by `.ci/install-packages` (as root)"


class ServerError(RuntimeError):
    """A test server failed to start, stop or answer; the message carries its log tail."""


class MissingBinaryError(ServerError):
    """A binary a test server needs is not installed."""


def missing_binaries(*names: str) -> list[str]:
    """Return the paths, of those named in ``BINARIES``, that are not executable here."""
    return [BINARIES[name] for name in names if not os.access(BINARIES[name], os.X_OK)]


def require_binaries(*names: str) -> None:
    """Raise ``MissingBinaryError`` naming every missing binary among ``names``."""
    missing = missing_binaries(*names)
    if missing:
        raise MissingBinaryError(f"missing {', '.join(missing)}: {INSTALL_HINT}")


def require_root(what: str) -> None:
    """Postfix and Dovecot start as root and drop privileges to their own users."""
    if os.geteuid() != 0:
        raise ServerError(f"{what} must be started as root (it drops privileges itself)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now.

    The kernel picks it; another process could take it before the server binds, which on a
    test machine is rare enough that a start-up failure (reported with the port) is the
    answer rather than a retry loop that would hide real bind errors.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def port_is_open(port: int, host: str = LOOPBACK) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(
    port: int,
    timeout: float,
    *,
    host: str = LOOPBACK,
    alive: subprocess.Popen[bytes] | None = None,
) -> None:
    """Wait until something accepts TCP connections on ``host:port``.

    ``alive`` is an optional ``subprocess.Popen``: if it exits while we wait, give up at once
    instead of waiting out the timeout.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_is_open(port, host):
            return
        if alive is not None and alive.poll() is not None:
            raise ServerError(
                f"process exited with status {alive.returncode} before {host}:{port} opened"
            )
        time.sleep(0.05)
    raise ServerError(f"nothing listens on {host}:{port} after {timeout:.0f} s")


def wait_for_port_closed(port: int, timeout: float, *, host: str = LOOPBACK) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not port_is_open(port, host):
            return True
        time.sleep(0.05)
    return False


def run(
    command: Sequence[str | os.PathLike[str]], *, timeout: float, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run a short command with a hard timeout, capturing its output for error messages."""
    try:
        completed = subprocess.run(
            [os.fspath(part) for part in command],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ServerError(
            f"{' '.join(map(str, command))} did not finish within {timeout:.0f} s"
        ) from exc
    if check and completed.returncode != 0:
        raise ServerError(
            f"{' '.join(map(str, command))} exited with {completed.returncode}: "
            f"{(completed.stderr or completed.stdout).strip()}"
        )
    return completed


def make_server_dir(kind: str, base_dir: str | os.PathLike[str] | None = None) -> Path:
    """A fresh directory for one server's configuration, queue, mail and logs.

    Daemons that drop privileges (postfix, dovecot, dnsmasq's ``nobody``) must traverse the
    path, so it is world-readable (0755) and lives outside pytest's private ``tmp_path``
    (``/tmp/pytest-of-root`` is 0700).
    """
    directory = Path(tempfile.mkdtemp(prefix=f"postdesk-e2e-{kind}-", dir=base_dir))
    directory.chmod(0o755)
    return directory


def remove_dir(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file, or an empty string if it does not exist yet."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def live_group_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are still running (zombies excluded).

    A zombie is already dead; the init process reaps those that a stopped daemon left.
    """
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields follow the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        state, process_group = fields[0], int(fields[2])
        if process_group == pgid and state not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def stop_process(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM the process group, then SIGKILL it if it is still there after ``timeout``.

    Servers are started with ``start_new_session=True`` so their group holds every child
    they forked; killing the group leaves no orphan behind.
    """
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
    # The leader may be gone while children linger in its group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, 9)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise ServerError(f"process {process.pid} survived SIGKILL for {timeout:.0f} s") from exc


class Lifecycle(ABC):
    """``with Server(...) as server:`` for every test server: ``start()`` returns the server,
    ``stop()`` runs on the way out, whatever happened inside."""

    @abstractmethod
    def start(self) -> Self:
        """Start the server and return it, ready for traffic."""

    @abstractmethod
    def stop(self) -> None:
        """Stop the server and clean up after it; safe to call twice."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
