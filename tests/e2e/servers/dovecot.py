"""A private Dovecot IMAP server for tests: the mailbox the IMAP connector (SPEC F17) reads.

``DovecotInstance`` runs ``dovecot -F -c <conf>`` (foreground, its own process group) with a
configuration written from scratch: ``base_dir``, ``state_dir``, log and mail all under a
temporary directory, so it neither reads ``/etc/dovecot`` nor collides with another instance.
IMAP listens on 127.0.0.1:<free port> only; with ``tls`` (a ``trustme.CA``) STARTTLS is
offered there and implicit TLS (IMAPS) gets a second port.

Users live in a ``passwd-file`` (``{PLAIN}`` passwords: this is a test), mail in Maildir
under each user's home. Plaintext LOGIN is allowed without TLS because clients connect over
loopback. Mail processes run as ``nobody`` when started as root (Dovecot refuses uid 0 for
mail access) or as the calling user otherwise.

Messages get into a mailbox in either of two real ways: ``append()`` over IMAP (what a mail
client does) or ``deliver()`` writing a Maildir file the way a local delivery agent does
(tmp/ then rename into new/), which Dovecot picks up on its next scan.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import secrets
import socket
import ssl
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Self

from . import (
    BINARIES,
    LOOPBACK,
    Lifecycle,
    ServerError,
    free_port,
    make_server_dir,
    remove_dir,
    require_binaries,
    run,
    stop_process,
    tail,
    wait_for_port,
)

if TYPE_CHECKING:
    import trustme

CONFIG = """\
instance_name = {instance}
base_dir = {directory}/run
state_dir = {directory}/state
log_path = {directory}/dovecot.log
protocols = imap
listen = {host}
{ssl}
# Loopback clients may log in with a plaintext password (LOGIN, AUTH PLAIN) without TLS.
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
first_valid_uid = {uid}
last_valid_uid = {uid}
mail_uid = {uid}
mail_gid = {gid}
{service_users}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {directory}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {directory}/users
}}
service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    address = {host}
    port = {imaps_port}
  }}
}}
"""


class DovecotInstance(Lifecycle):
    """Dovecot IMAP on 127.0.0.1:<free port> with ``users`` (address → password)."""

    def __init__(
        self,
        users: Mapping[str, str] | None = None,
        *,
        tls: trustme.CA | None = None,
        hostname: str = "imap.mycompany.test",
        port: int | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        keep_files: bool = False,
        start_timeout: float = 15.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.host = LOOPBACK
        self.port = port or free_port()
        self.imaps_port: int | None = free_port() if tls is not None else None
        self.hostname = hostname
        self.tls = tls
        self.users: dict[str, str] = dict(users or {"alice@mycompany.test": "secret"})
        self.base_dir = base_dir
        self.keep_files = keep_files
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.directory: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._final_log = ""
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            self.mail_uid, self.mail_gid = nobody.pw_uid, nobody.pw_gid
        else:
            self.mail_uid, self.mail_gid = os.getuid(), os.getgid()

    # -- paths -----------------------------------------------------------------------------

    def _dir(self) -> Path:
        if self.directory is None:
            raise ServerError("dovecot is not started")
        return self.directory

    @property
    def config_file(self) -> Path:
        return self._dir() / "dovecot.conf"

    @property
    def log_file(self) -> Path:
        return self._dir() / "dovecot.log"

    @property
    def ca_file(self) -> Path | None:
        """PEM of the CA that signed the server certificate (``SSL_CERT_FILE`` for clients)."""
        return None if self.tls is None else self._dir() / "ca.pem"

    def home(self, user: str) -> Path:
        return self._dir() / "home" / user

    def maildir(self, user: str, folder: str = "INBOX") -> Path:
        """The Maildir of ``folder`` (INBOX is the root; others are ``.Name`` Maildir++)."""
        root = self.home(user) / "Maildir"
        return root if folder.upper() == "INBOX" else root / f".{folder}"

    # -- configuration ---------------------------------------------------------------------

    def _ssl_settings(self) -> str:
        if self.tls is None:
            return "ssl = no"
        directory = self._dir()
        leaf = self.tls.issue_cert(self.hostname, LOOPBACK, "localhost")
        for blob_index, blob in enumerate(leaf.cert_chain_pems):
            mode = "wb" if blob_index == 0 else "ab"
            with (directory / "cert.pem").open(mode) as chain:
                chain.write(blob.bytes())
        leaf.private_key_pem.write_to_path(str(directory / "key.pem"))
        (directory / "key.pem").chmod(0o600)
        self.tls.cert_pem.write_to_path(str(directory / "ca.pem"))
        return "\n".join(
            [
                "ssl = yes",
                f"ssl_cert = <{directory}/cert.pem",
                f"ssl_key = <{directory}/key.pem",
                "ssl_min_protocol = TLSv1.2",
            ]
        )

    def _service_users(self) -> str:
        if os.geteuid() == 0:
            return ""
        # Unprivileged: every Dovecot process runs as the caller.
        name = pwd.getpwuid(os.getuid()).pw_name
        return f"default_login_user = {name}\ndefault_internal_user = {name}"

    def _write_users(self) -> None:
        directory = self._dir()
        lines = []
        for user, password in self.users.items():
            if ":" in user or ":" in password or "\n" in user + password:
                raise ValueError(f"user or password not usable in a passwd-file: {user!r}")
            home = self.home(user)
            for sub in ("cur", "new", "tmp"):
                (home / "Maildir" / sub).mkdir(parents=True, exist_ok=True)
            self._own(home)
            lines.append(f"{user}:{{PLAIN}}{password}:{self.mail_uid}:{self.mail_gid}::{home}::")
        users_file = directory / "users"
        # Dovecot re-reads a changed passwd-file; write it whole in one rename.
        staging = directory / "users.new"
        staging.write_text("\n".join(lines) + "\n")
        staging.chmod(0o644)
        staging.replace(users_file)

    def _own(self, top: Path) -> None:
        for path in [top, *top.rglob("*")]:
            os.chown(path, self.mail_uid, self.mail_gid)

    def _write_config(self) -> None:
        directory = self._dir()
        for sub in ("run", "state", "home"):
            (directory / sub).mkdir(mode=0o755, exist_ok=True)
        self._write_users()
        self.config_file.write_text(
            CONFIG.format(
                instance=f"postdesk-e2e-{self.port}",
                directory=directory,
                host=self.host,
                port=self.port,
                # Port 0 disables the listener.
                imaps_port=self.imaps_port or 0,
                ssl=self._ssl_settings(),
                uid=self.mail_uid,
                gid=self.mail_gid,
                service_users=self._service_users(),
            )
        )

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> Self:
        require_binaries("dovecot", "doveconf")
        self.directory = make_server_dir("dovecot", self.base_dir)
        try:
            self._write_config()
            # doveconf parses the file exactly as dovecot will and names a bad setting.
            run([BINARIES["doveconf"], "-c", str(self.config_file), "-n"], timeout=15)
            self._process = subprocess.Popen(
                [BINARIES["dovecot"], "-F", "-c", str(self.config_file)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=(self._dir() / "stderr.log").open("wb"),
                start_new_session=True,
            )
            wait_for_port(self.port, self.start_timeout, alive=self._process)
            if self.imaps_port is not None:
                wait_for_port(self.imaps_port, self.start_timeout, alive=self._process)
        except BaseException as exc:
            detail = ""
            if self.directory is not None:
                detail = f"{tail(self._dir() / 'stderr.log')}\n{tail(self.log_file)}"
            self.stop()
            if isinstance(exc, ServerError):
                raise ServerError(f"dovecot did not start: {exc}\n{detail}") from exc
            raise
        return self

    def stop(self) -> None:
        if self._process is not None:
            # SIGTERM to the group: the master and every login/imap/auth child.
            stop_process(self._process, self.stop_timeout)
            if self._process.stderr is not None:
                self._process.stderr.close()
            self._process = None
        if self.directory is not None:
            self._final_log = self.logs()
            if not self.keep_files:
                remove_dir(self.directory)
            self.directory = None

    # -- users and mail --------------------------------------------------------------------

    def add_user(self, user: str, password: str) -> None:
        """Add (or change the password of) a user; Dovecot sees it at the next login."""
        self.users[user] = password
        self._write_users()

    def connect(self, user: str, *, timeout: float = 10.0) -> imaplib.IMAP4:
        """An ``imaplib`` client logged in as ``user`` with LOGIN (plaintext, loopback)."""
        client = imaplib.IMAP4(self.host, self.port, timeout=timeout)
        try:
            client.login(user, self.users[user])
        except BaseException:
            client.shutdown()
            raise
        return client

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts this server's certificate."""
        if self.tls is None:
            raise ServerError("dovecot was started without tls")
        context = ssl.create_default_context()
        self.tls.configure_trust(context)
        return context

    def append(
        self,
        user: str,
        message: bytes,
        *,
        folder: str = "INBOX",
        flags: Iterable[str] = (),
        internal_date: float | None = None,
    ) -> int:
        """APPEND a message over IMAP; returns its UID (from the APPENDUID response)."""
        client = self.connect(user)
        try:
            if folder.upper() != "INBOX":
                client.create(folder)
            flag_list = f"({' '.join(flags)})" if flags else None
            date = imaplib.Time2Internaldate(internal_date) if internal_date else None
            status, data = client.append(folder, flag_list, date, message)
            if status != "OK":
                raise ServerError(f"APPEND to {user}/{folder} failed: {data!r}")
            # [APPENDUID <uidvalidity> <uid>] (RFC 4315 UIDPLUS, which Dovecot has).
            response = data[0].decode() if data and isinstance(data[0], bytes) else ""
            marker = response.find("APPENDUID")
            if marker < 0:
                raise ServerError(f"no APPENDUID in {response!r}")
            return int(response[marker:].split()[2].rstrip("]"))
        finally:
            client.logout()

    def deliver(self, user: str, message: bytes, *, folder: str = "INBOX") -> Path:
        """Write a message into the user's Maildir as a delivery agent would."""
        maildir = self.maildir(user, folder)
        for sub in ("cur", "new", "tmp"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        self._own(maildir)
        # Maildir's unique name: time, a per-delivery part and the host.
        unique = f"{time.time_ns()}.P{os.getpid()}R{secrets.token_hex(4)}.{socket.gethostname()}"
        staging = maildir / "tmp" / unique
        staging.write_bytes(message)
        os.chown(staging, self.mail_uid, self.mail_gid)
        final = maildir / "new" / unique
        staging.rename(final)
        return final

    def fetch_all(self, user: str, folder: str = "INBOX") -> list[tuple[int, bytes]]:
        """Every message in ``folder`` as (UID, raw bytes), read over IMAP."""
        client = self.connect(user)
        try:
            client.select(folder, readonly=True)
            status, data = client.uid("SEARCH", "ALL")
            uids = [int(uid) for uid in data[0].split()] if status == "OK" and data[0] else []
            messages = []
            for uid in uids:
                status, parts = client.uid("FETCH", str(uid), "(BODY.PEEK[])")
                for part in parts:
                    if isinstance(part, tuple):
                        messages.append((uid, part[1]))
            return messages
        finally:
            client.logout()

    # -- logs ------------------------------------------------------------------------------

    def logs(self) -> str:
        if self.directory is None:
            return self._final_log
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __repr__(self) -> str:
        return f"<DovecotInstance {self.host}:{self.port}>"
