"""A private Postfix instance: the customer's mail server or an outbound relay, in a test.

Debian's Postfix runs here as a *non-system* instance: ``postfix -c DIR start`` with its own
``config_directory``, ``queue_directory``, ``data_directory`` and log file under a temporary
directory, so several instances run side by side (two desks, a customer's forwarding server
and an outbound relay) without touching ``/etc/postfix``. Running the ``postfix`` command as
root with ``-c`` needs no ``alternate_config_directories`` entry in the default ``main.cf``
(only the set-gid ``postdrop``/``postqueue`` ask for one, and not from root); the daemons drop
to the ``postfix`` user the package created.

The instance never leaves the machine:

- smtpd listens on ``127.0.0.1:<free port>`` only (``inet_interfaces = loopback-only``,
  ``inet_protocols = ipv4``), the SMTP client binds to 127.0.0.1 too;
- no DNS: ``smtp_dns_support_level = disabled``, ``smtp_host_lookup = native`` and routes
  given as ``[127.0.0.1]:port`` next hops in ``transport_maps`` (``texthash:`` tables, so no
  ``postmap`` step), mail for any other domain goes to the ``relayhost`` (a sink) or is
  bounced by ``error(8)``;
- ``mydestination`` is empty (nothing is delivered locally), ``mynetworks = 127.0.0.0/8``.

Queue retries are short (1-2 s) so deferred mail is retried within a test. Mail forwarding as
a company's server does it is ``virtual_alias_maps``: ``billing@mycompany.test`` rewritten to
``billing@desk.test`` and routed by ``transport_maps`` to Postdesk's SMTP port.

Postfix's own documentation: postfix(1), master(5), postconf(5) (``maillog_file`` logging
through postlogd(8) needs Postfix >= 3.4; Debian 12 has 3.7).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import smtplib
import time
from collections.abc import Mapping, Sequence
from email.message import Message
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from . import (
    BINARIES,
    LOOPBACK,
    Lifecycle,
    ServerError,
    free_port,
    live_group_members,
    make_server_dir,
    remove_dir,
    require_binaries,
    require_root,
    run,
    tail,
    wait_for_port,
)

if TYPE_CHECKING:
    import trustme

# A next hop: a port on 127.0.0.1, a (host, port) pair, or a verbatim transport(5) value
# such as "lmtp:unix:/path/to/socket", "error:5.1.1 gone" or "autoreply:" (a master.cf pipe).
NextHop = int | tuple[str, int] | str

# Directories that hold queue files (the others hold per-message logs or sockets).
QUEUE_DIRS = ("maildrop", "incoming", "active", "deferred", "hold")

# The Postfix services the tests need; every one unchrooted (chroot = n) because the
# instance's paths and /etc/hosts are not copied into a jail.
MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command + args
{listen}  inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
lmtp      unix  -       -       n       -       -       lmtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def nexthop(value: NextHop) -> str:
    """The transport(5) right-hand side for a next hop given in any of ``NextHop``'s forms."""
    if isinstance(value, int):
        return f"smtp:[{LOOPBACK}]:{value}"
    if isinstance(value, tuple):
        host, port = value
        return f"smtp:[{host}]:{port}"
    return value


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


class PostfixInstance(Lifecycle):
    """A private Postfix on 127.0.0.1:<free port>; a context manager that starts and stops it.

    ``transports`` routes domains (``"desk.test": 2525`` → ``smtp:[127.0.0.1]:2525``);
    ``virtual_aliases`` forwards addresses (``"billing@mycompany.test": "billing@desk.test"``),
    their domains become ``virtual_alias_domains`` so unknown users there are refused with
    ``550 5.1.1`` like on a real server; ``relayhost`` is where everything else goes (a sink);
    without one, other domains are bounced. ``main_cf`` overrides or adds ``main.cf``
    parameters (e.g. ``{"maximal_queue_lifetime": "0"}`` to bounce on the first failure) and
    ``master_cf`` adds services, such as a ``pipe(8)`` transport to an autoresponder script.
    ``tls`` (a ``trustme.CA``) gives smtpd a certificate for STARTTLS and the SMTP client that
    CA to verify relays with.
    """

    def __init__(
        self,
        name: str = "relay",
        *,
        transports: Mapping[str, NextHop] | None = None,
        virtual_aliases: Mapping[str, str | Sequence[str]] | None = None,
        relay_domains: Sequence[str] | None = None,
        relayhost: int | tuple[str, int] | None = None,
        main_cf: Mapping[str, str] | None = None,
        master_cf: str = "",
        tls: trustme.CA | None = None,
        hostname: str | None = None,
        port: int | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        keep_files: bool = False,
        start_timeout: float = 30.0,
        stop_timeout: float = 20.0,
    ) -> None:
        self.name = name
        self.hostname = hostname or f"mx.{name}.test"
        self.host = LOOPBACK
        self.port = port or free_port()
        self.transports: dict[str, NextHop] = dict(transports or {})
        self.virtual_aliases: dict[str, str | Sequence[str]] = dict(virtual_aliases or {})
        self._relay_domains = list(relay_domains) if relay_domains is not None else None
        self.relayhost = relayhost
        self.main_cf_overrides = dict(main_cf or {})
        self.master_cf_extra = master_cf
        self.tls = tls
        self.base_dir = base_dir
        self.keep_files = keep_files
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.directory: Path | None = None
        self._master_pid: int | None = None
        self._final_log = ""

    # -- paths -----------------------------------------------------------------------------

    def _dir(self) -> Path:
        if self.directory is None:
            raise ServerError(f"postfix {self.name!r} is not started")
        return self.directory

    @property
    def config_dir(self) -> Path:
        return self._dir() / "etc"

    @property
    def queue_dir(self) -> Path:
        return self._dir() / "spool"

    @property
    def data_dir(self) -> Path:
        return self._dir() / "data"

    @property
    def log_file(self) -> Path:
        return self._dir() / "maillog"

    @property
    def address(self) -> str:
        """``host:port`` of the SMTP listener (what ``POSTDESK_RELAY`` and tests connect to)."""
        return f"{self.host}:{self.port}"

    @property
    def relay_url(self) -> str:
        """The ``POSTDESK_RELAY`` value that sends through this instance."""
        return f"smtp://{self.host}:{self.port}"

    # -- configuration ---------------------------------------------------------------------

    @property
    def relay_domains(self) -> list[str]:
        if self._relay_domains is not None:
            return self._relay_domains
        # Routed domains are relayed for; subdomain patterns (".desk.test") and the catch-all
        # ("*") are routes, not domains.
        return sorted(d for d in self.transports if not d.startswith((".", "*")))

    @property
    def virtual_alias_domains(self) -> list[str]:
        relayed = set(self.relay_domains)
        return sorted({_domain(a) for a in self.virtual_aliases} - relayed)

    def main_cf(self) -> dict[str, str]:
        """The ``main.cf`` parameters of this instance, before ``main_cf`` overrides."""
        directory = self._dir()
        params: dict[str, str] = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.queue_dir),
            "data_directory": str(self.data_dir),
            "maillog_file": str(self.log_file),
            # maillog_file must start with one of these; the default only allows /var.
            "maillog_file_prefixes": str(directory),
            "myhostname": self.hostname,
            "mydomain": self.hostname.partition(".")[2] or self.hostname,
            "myorigin": "$myhostname",
            "mydestination": "",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            "append_dot_mydomain": "no",
            "biff": "no",
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "smtp_bind_address": LOOPBACK,
            "smtp_dns_support_level": "disabled",
            "smtp_host_lookup": "native",
            "lmtp_host_lookup": "native",
            "smtpd_peername_lookup": "no",
            "smtputf8_enable": "yes",
            "relay_domains": " ".join(self.relay_domains),
            "virtual_alias_domains": " ".join(self.virtual_alias_domains),
            "virtual_alias_maps": f"texthash:{self.config_dir / 'virtual'}",
            "transport_maps": f"texthash:{self.config_dir / 'transport'}",
            "message_size_limit": str(100 * 1024 * 1024),
            # Retry deferred mail within a test's patience, not hours later.
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "transport_retry_time": "1s",
            "maximal_queue_lifetime": "1h",
            "bounce_queue_lifetime": "1h",
            "smtp_connect_timeout": "5s",
            "smtp_data_done_timeout": "60s",
            "smtpd_banner": "$myhostname ESMTP",
        }
        if self.relayhost is not None:
            host, port = (
                (LOOPBACK, self.relayhost) if isinstance(self.relayhost, int) else self.relayhost
            )
            params["relayhost"] = f"[{host}]:{port}"
        else:
            # Nowhere else to go in a closed test network: bounce instead of trying DNS.
            params["default_transport"] = "error:5.4.4 no route to this domain in the test network"
        if self.tls is not None:
            params.update(
                {
                    "smtpd_tls_chain_files": str(self.config_dir / "smtpd-chain.pem"),
                    "smtpd_tls_security_level": "may",
                    "smtp_tls_CAfile": str(self.config_dir / "ca.pem"),
                }
            )
        params.update(self.main_cf_overrides)
        return params

    def _write_tables(self) -> None:
        transport_lines = [f"{domain} {nexthop(hop)}" for domain, hop in self.transports.items()]
        alias_lines = []
        for source, targets in self.virtual_aliases.items():
            target_list = [targets] if isinstance(targets, str) else list(targets)
            alias_lines.append(f"{source} {', '.join(target_list)}")
        (self.config_dir / "transport").write_text("\n".join(transport_lines) + "\n")
        (self.config_dir / "virtual").write_text("\n".join(alias_lines) + "\n")

    def _write_config(self) -> None:
        self.config_dir.mkdir(mode=0o755, exist_ok=True)
        self.queue_dir.mkdir(mode=0o755, exist_ok=True)
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        postfix_user = pwd.getpwnam("postfix")
        os.chown(self.data_dir, postfix_user.pw_uid, postfix_user.pw_gid)
        if self.tls is not None:
            leaf = self.tls.issue_cert(self.hostname, LOOPBACK, "localhost")
            chain = self.config_dir / "smtpd-chain.pem"
            # Key first, then the certificate chain: the smtpd_tls_chain_files layout.
            leaf.private_key_and_cert_chain_pem.write_to_path(str(chain))
            chain.chmod(0o600)
            self.tls.cert_pem.write_to_path(str(self.config_dir / "ca.pem"))
        self._write_tables()
        main = "".join(f"{key} = {value}\n" for key, value in self.main_cf().items())
        (self.config_dir / "main.cf").write_text(main)
        master = MASTER_CF.format(listen=f"{self.host}:{self.port}")
        if self.master_cf_extra:
            master += self.master_cf_extra.rstrip("\n") + "\n"
        (self.config_dir / "master.cf").write_text(master)

    # -- life cycle ------------------------------------------------------------------------

    def _postfix(self, *args: str, timeout: float, check: bool = True) -> str:
        completed = run(
            [BINARIES["postfix"], "-c", str(self.config_dir), *args], timeout=timeout, check=False
        )
        if check and completed.returncode != 0:
            # postfix(1) reports to the log file (stderr only when it is a terminal).
            raise ServerError(
                f"postfix {self.name!r}: `postfix {' '.join(args)}` exited with "
                f"{completed.returncode}\n{completed.stderr.strip()}\n{tail(self.log_file)}"
            )
        return completed.stdout

    def check(self) -> None:
        """``postfix check``: validate the configuration and create missing queue directories."""
        self._postfix("check", timeout=30)

    def start(self) -> Self:
        require_binaries("postfix", "postconf", "postqueue")
        require_root("postfix")
        self.directory = make_server_dir(f"postfix-{self.name}", self.base_dir)
        try:
            self._write_config()
            self.check()
            # `start` runs master -w: it returns once the master daemon has initialised.
            self._postfix("start", timeout=self.start_timeout)
            self._master_pid = self._read_master_pid()
            wait_for_port(self.port, self.start_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _read_master_pid(self) -> int | None:
        try:
            return int((self.queue_dir / "pid" / "master.pid").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def is_running(self) -> bool:
        return self._master_pid is not None and bool(live_group_members(self._master_pid))

    def stop(self) -> None:
        """Stop the instance (gracefully, then SIGKILL to its process group) and clean up."""
        if self.directory is None:
            return
        pid = self._master_pid or self._read_master_pid()
        if pid is not None and live_group_members(pid):
            # postfix-script waits up to 5 s, then kills the master's group itself.
            with contextlib.suppress(ServerError):
                self._postfix("stop", timeout=self.stop_timeout, check=False)
            deadline = time.monotonic() + self.stop_timeout
            while live_group_members(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            # The master daemon is a session leader: its pid is its group's id.
            with contextlib.suppress(ProcessLookupError):
                if live_group_members(pid):
                    os.killpg(pid, 9)
        self._final_log = tail(self.log_file, lines=100_000)
        if not self.keep_files:
            remove_dir(self.directory)
        self.directory = None
        self._master_pid = None

    # -- reconfiguration -------------------------------------------------------------------

    def update(
        self,
        *,
        transports: Mapping[str, NextHop] | None = None,
        virtual_aliases: Mapping[str, str | Sequence[str]] | None = None,
        relayhost: int | tuple[str, int] | None = None,
        main_cf: Mapping[str, str] | None = None,
        timeout: float = 15.0,
    ) -> None:
        """Replace routes, aliases, relayhost or parameters and ``postfix reload``.

        Returns once the master daemon has logged the reload, so mail sent afterwards is
        handled by daemons that read the new tables.
        """
        if transports is not None:
            self.transports = dict(transports)
        if virtual_aliases is not None:
            self.virtual_aliases = dict(virtual_aliases)
        if relayhost is not None:
            self.relayhost = relayhost
        if main_cf is not None:
            self.main_cf_overrides.update(main_cf)
        reloads_before = self.logs().count("reload -- version")
        self._write_config()
        self._postfix("reload", timeout=timeout)
        deadline = time.monotonic() + timeout
        while self.logs().count("reload -- version") <= reloads_before:
            if time.monotonic() > deadline:
                raise ServerError(f"postfix {self.name!r} did not reload\n{tail(self.log_file)}")
            time.sleep(0.05)

    # -- mail ------------------------------------------------------------------------------

    def send(
        self,
        message: bytes | str | Message,
        mail_from: str,
        rcpt: str | Sequence[str],
        *,
        helo: str = "client.test",
        timeout: float = 15.0,
    ) -> dict[str, tuple[int, bytes]]:
        """Submit a message over SMTP; returns the refused recipients (as smtplib does).

        Raises ``smtplib.SMTPRecipientsRefused`` if every recipient is refused and
        ``smtplib.SMTPDataError`` if the message is.
        """
        recipients = [rcpt] if isinstance(rcpt, str) else list(rcpt)
        raw = message.as_bytes() if isinstance(message, Message) else message
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        options = ["SMTPUTF8"] if not all(a.isascii() for a in [mail_from, *recipients]) else []
        with smtplib.SMTP(self.host, self.port, local_hostname=helo, timeout=timeout) as client:
            return client.sendmail(mail_from, recipients, raw, mail_options=options)

    def queued_files(self) -> list[Path]:
        """Queue files of messages not yet delivered or bounced (any queue)."""
        files: list[Path] = []
        for queue in QUEUE_DIRS:
            directory = self.queue_dir / queue
            if directory.is_dir():
                files.extend(p for p in directory.rglob("*") if p.is_file())
        return files

    def queue_is_empty(self) -> bool:
        return not self.queued_files()

    def queue(self) -> list[dict[str, Any]]:
        """``postqueue -j``: one dict per queued message, with ``recipients`` and their
        ``delay_reason`` (why delivery was deferred)."""
        completed = run(
            [BINARIES["postqueue"], "-c", str(self.config_dir), "-j"], timeout=15, check=True
        )
        return [json.loads(line) for line in completed.stdout.splitlines() if line.strip()]

    def flush(self) -> None:
        """``postqueue -f``: retry every deferred message now."""
        run([BINARIES["postqueue"], "-c", str(self.config_dir), "-f"], timeout=15, check=True)

    def wait_until_empty(self, timeout: float = 30.0) -> None:
        """Wait until every queued message was delivered or bounced; raise with the queue
        and the log tail if that takes longer than ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not self.queue_is_empty():
            if time.monotonic() > deadline:
                try:
                    queued = json.dumps(self.queue(), indent=1)
                except ServerError as exc:
                    queued = str(exc)
                raise ServerError(
                    f"postfix {self.name!r}: queue not empty after {timeout:.0f} s\n"
                    f"{queued}\n{tail(self.log_file)}"
                )
            time.sleep(0.1)

    # -- logs ------------------------------------------------------------------------------

    def logs(self) -> str:
        """The instance's log (also after ``stop``, until the object is dropped)."""
        if self.directory is None:
            return self._final_log
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """Wait for a regular expression to match the log, e.g. ``r"status=sent"``."""
        compiled = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            match = compiled.search(self.logs())
            if match:
                return match
            if time.monotonic() > deadline:
                raise ServerError(
                    f"postfix {self.name!r}: no log line matches {pattern!r} after "
                    f"{timeout:.0f} s\n{tail(self.log_file)}"
                )
            time.sleep(0.1)

    def __repr__(self) -> str:
        return f"<PostfixInstance {self.name} {self.address}>"
