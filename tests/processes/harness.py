"""Real Postdesk processes for tests: a data directory (and, when the suite runs on
PostgreSQL, a database of its own), ``postdesk`` subprocesses, and ways to kill them."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


class Database:
    """A fresh PostgreSQL database beside the suite's one, or None for SQLite."""

    def __init__(self, base_url: str | None) -> None:
        self.base_url = base_url
        self.name = f"postdesk_proc_{secrets.token_hex(4)}"
        self.url: str | None = None

    def __enter__(self) -> Database:
        if self.base_url:
            import psycopg

            with psycopg.connect(self.base_url, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.name}"')
            parts = urlsplit(self.base_url)
            self.url = urlunsplit(parts._replace(path=f"/{self.name}"))
        return self

    def __exit__(self, *exc: object) -> None:
        if self.base_url:
            import psycopg

            with psycopg.connect(self.base_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class Desk:
    """One desk's processes, started and killed at will."""

    def __init__(self, database_url: str | None = None, domain: str = "desk.test") -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="postdesk-proc-"))
        self.smtp_port = free_port()
        self.http_port = free_port()
        self.env = {
            **os.environ,
            "POSTDESK_DATA_DIR": str(self.data_dir),
            "POSTDESK_MAIL_DOMAIN": domain,
            "POSTDESK_SMTP": f"127.0.0.1:{self.smtp_port}",
            "POSTDESK_HTTP": f"127.0.0.1:{self.http_port}",
            "DJANGO_SETTINGS_MODULE": "postdesk.settings",
            "PYTHONUNBUFFERED": "1",
        }
        self.env.pop("POSTDESK_DATABASE_URL", None)
        if database_url:
            self.env["POSTDESK_DATABASE_URL"] = database_url
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def command(
        self, *args: str, timeout: float = 120, stdin: bytes | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "postdesk.cli", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            timeout=timeout,
            input=stdin,
        )

    def migrate(self) -> None:
        result = self.command("migrate", "-v", "0")
        assert result.returncode == 0, result.stderr.decode()

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.data_dir / f"{name}.log", "ab")  # noqa: SIM115 - lives with the process
        process = subprocess.Popen(
            [sys.executable, "-m", "postdesk.cli", *args],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes[name] = process
        return process

    def start_smtpd(self) -> None:
        self.start("smtpd", "smtpd")
        wait_for(self.smtp_listening, 30, "smtpd to listen")

    def smtp_listening(self) -> bool:
        import socket

        try:
            with socket.create_connection(("127.0.0.1", self.smtp_port), timeout=1) as sock:
                return sock.recv(3) == b"220"
        except OSError:
            return False

    def http_ok(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.http_port}/health", timeout=2
            ) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes[name]
        process.send_signal(sig)
        process.wait(timeout=30)

    def status(self) -> dict:
        result = self.command("status", "--json")
        assert result.returncode == 0, result.stderr.decode()
        return json.loads(result.stdout)

    def log(self, name: str) -> str:
        path = self.data_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> Desk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def query(desk: Desk, sql: str) -> list[tuple]:
    """Read the desk's database directly, as an outside observer."""
    url = desk.env.get("POSTDESK_DATABASE_URL")
    if url:
        import psycopg

        with psycopg.connect(url) as conn:
            return list(conn.execute(sql).fetchall())
    import sqlite3

    with sqlite3.connect(desk.data_dir / "postdesk.sqlite3", timeout=30) as conn:
        return list(conn.execute(sql).fetchall())
