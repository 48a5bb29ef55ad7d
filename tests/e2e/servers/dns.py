"""A DNS server for tests: dnsmasq answering records given as Python data.

``DnsServer`` runs ``dnsmasq --keep-in-foreground`` on 127.0.0.1:<free port> (UDP and TCP)
with ``no-resolv``, ``no-hosts`` and ``local=/#/``: every name is answered from the records
given here, with the authoritative-answer flag, and any other name is ``NXDOMAIN`` (never
``REFUSED``, never forwarded). That is the world SPF, DKIM and DMARC checks expect: a
``_dmarc`` name without a record simply does not exist.

Records are a mapping ``name -> type -> values``::

    {
        "mycompany.test": {
            "TXT": ["v=spf1 include:_spf.desk.test -all"],
            "MX": [(10, "mx.mycompany.test")],
        },
        "mx.mycompany.test": {"A": ["127.0.0.1"]},
        "s1._domainkey.mycompany.test": {"CNAME": ["s1._domainkey.desk.test"]},
        "s1._domainkey.desk.test": {"TXT": ["v=DKIM1; k=rsa; p=MIIBIjANBg..."]},
    }

A TXT value longer than 255 bytes is split into several character-strings of one record, as
DNS requires (RFC 1035 3.3.14; RFC 6376 3.6.2.2 says a verifier joins them), so a 2048-bit
DKIM key is given whole. A tuple of strings gives the strings of one record explicitly.
Several values of a type are several records (two SPF records is a misconfiguration a check
must report). ``set_records()`` replaces them all by restarting dnsmasq on the same port
(dnsmasq reloads configured records only on start).

Point dnspython at it with ``resolver()`` or ``POSTDESK_DNS=<address>``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Self

import dns.resolver

from . import (
    BINARIES,
    LOOPBACK,
    Lifecycle,
    ServerError,
    free_port,
    make_server_dir,
    remove_dir,
    require_binaries,
    stop_process,
    tail,
    wait_for_port,
)

TxtValue = str | tuple[str, ...]
MxValue = tuple[int, str] | str
RecordValue = TxtValue | MxValue
Records = Mapping[str, Mapping[str, Sequence[RecordValue]]]

SUPPORTED_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT")
MAX_STRING_BYTES = 255


def split_txt(value: str) -> tuple[str, ...]:
    """Split a TXT value into character-strings of at most 255 bytes (UTF-8), never inside
    a character."""
    strings: list[str] = []
    current = ""
    for char in value:
        if len((current + char).encode()) > MAX_STRING_BYTES:
            strings.append(current)
            current = ""
        current += char
    strings.append(current)
    return tuple(strings)


def _quote(text: str) -> str:
    """A dnsmasq configuration string: quoted, with backslash and quote escaped (quoting
    also keeps ``#``, ``,`` and ``;`` of DKIM and SPF records literal)."""
    if "\n" in text or "\r" in text:
        raise ValueError(f"a DNS string cannot hold a line break: {text!r}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _name(name: str) -> str:
    name = name.rstrip(".").lower()
    if not name or "," in name or any(c.isspace() for c in name):
        raise ValueError(f"not a DNS name: {name!r}")
    return name


def config_lines(records: Records) -> list[str]:
    """The dnsmasq.conf lines (``txt-record``, ``host-record``, ``mx-host``, ``cname``)."""
    lines: list[str] = []
    for raw_name, by_type in records.items():
        name = _name(raw_name)
        for raw_type, values in by_type.items():
            record_type = raw_type.upper()
            if record_type not in SUPPORTED_TYPES:
                raise ValueError(f"{name}: type {raw_type} not supported ({SUPPORTED_TYPES})")
            if isinstance(values, str | tuple):
                raise TypeError(f"{name} {record_type}: give a list of values, not {values!r}")
            if record_type == "CNAME" and len(values) != 1:
                raise ValueError(f"{name}: a CNAME has exactly one target")
            for value in values:
                lines.append(_line(name, record_type, value))
    return lines


def _line(name: str, record_type: str, value: RecordValue) -> str:
    if record_type == "TXT":
        if isinstance(value, str):
            strings = split_txt(value)
        elif all(isinstance(string, str) for string in value):
            strings = tuple(str(string) for string in value)
        else:
            raise TypeError(f"{name} TXT: a string or a tuple of strings, not {value!r}")
        for string in strings:
            if len(string.encode()) > MAX_STRING_BYTES:
                raise ValueError(f"{name}: TXT string over 255 bytes: {string[:40]!r}...")
        return f"txt-record={name}," + ",".join(_quote(s) for s in strings)
    if record_type in ("A", "AAAA"):
        # host-record also answers the reverse (PTR) query, which a real zone would too.
        return f"host-record={name},{value}"
    if record_type == "MX":
        if isinstance(value, str):
            preference, _, exchange = value.partition(" ")
        else:
            preference, exchange = str(value[0]), str(value[1])
        return f"mx-host={name},{_name(exchange)},{int(preference)}"
    if not isinstance(value, str):
        raise TypeError(f"{name} CNAME: the target is a name, not {value!r}")
    return f"cname={name},{_name(value)}"


class DnsServer(Lifecycle):
    """dnsmasq on 127.0.0.1:<free port> serving ``records``; a context manager."""

    def __init__(
        self,
        records: Records | None = None,
        *,
        port: int | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        keep_files: bool = False,
        start_timeout: float = 10.0,
        stop_timeout: float = 5.0,
    ) -> None:
        self.host = LOOPBACK
        self.port = port or free_port()
        self.records: dict[str, dict[str, list[RecordValue]]] = {}
        self._merge(records or {})
        self.base_dir = base_dir
        self.keep_files = keep_files
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.directory: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._final_log = ""

    @property
    def address(self) -> str:
        """``ip:port``, the form ``POSTDESK_DNS`` takes."""
        return f"{self.host}:{self.port}"

    @property
    def log_file(self) -> Path:
        if self.directory is None:
            raise ServerError("DNS server is not started")
        return self.directory / "dnsmasq.log"

    def _merge(self, records: Records) -> None:
        config_lines(records)  # validate before accepting anything
        for name, by_type in records.items():
            entry = self.records.setdefault(_name(name), {})
            for record_type, values in by_type.items():
                entry[record_type.upper()] = list(values)

    def _config(self) -> str:
        settings = [
            f"port={self.port}",
            f"listen-address={self.host}",
            "bind-interfaces",
            "no-resolv",
            "no-hosts",
            "no-poll",
            # Every name is ours: unknown ones are NXDOMAIN instead of REFUSED.
            "local=/#/",
            # No pid file: the default one in /run would be shared between instances.
            "pid-file=",
            "log-queries",
            f"log-facility={self.log_file}",
        ]
        return "\n".join([*settings, *config_lines(self.records)]) + "\n"

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> Self:
        require_binaries("dnsmasq")
        if self.directory is None:
            self.directory = make_server_dir("dns", self.base_dir)
        config = self.directory / "dnsmasq.conf"
        config.write_text(self._config())
        # Check the syntax first: a bad line is reported at once instead of a dead port.
        check = subprocess.run(
            [BINARIES["dnsmasq"], "--test", f"--conf-file={config}"],
            capture_output=True,
            text=True,
            timeout=self.start_timeout,
            check=False,
        )
        if check.returncode != 0:
            self.stop()
            raise ServerError(f"dnsmasq rejects its configuration: {check.stderr.strip()}")
        self._process = subprocess.Popen(
            [BINARIES["dnsmasq"], "--keep-in-foreground", f"--conf-file={config}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=(self.directory / "stderr.log").open("wb"),
            start_new_session=True,
        )
        try:
            # dnsmasq opens its TCP and UDP sockets together, before it answers.
            wait_for_port(self.port, self.start_timeout, alive=self._process)
        except ServerError as exc:
            stderr = tail(self.directory / "stderr.log")
            self.stop()
            raise ServerError(f"dnsmasq did not start: {exc}\n{stderr}") from exc
        return self

    def _stop_process(self) -> None:
        if self._process is not None:
            stop_process(self._process, self.stop_timeout)
            if self._process.stderr is not None:
                self._process.stderr.close()
            self._process = None

    def stop(self) -> None:
        self._stop_process()
        if self.directory is not None:
            self._final_log = self.logs()
            if not self.keep_files:
                remove_dir(self.directory)
            self.directory = None

    # -- records ---------------------------------------------------------------------------

    def set_records(self, records: Records) -> None:
        """Replace every record and restart dnsmasq on the same port."""
        self.records = {}
        self._merge(records)
        self._restart()

    def add_records(self, records: Records) -> None:
        """Add or replace the given names' types, keep the rest, restart dnsmasq."""
        self._merge(records)
        self._restart()

    def _restart(self) -> None:
        if self._process is None:
            return
        self._stop_process()
        self.start()

    # -- clients ---------------------------------------------------------------------------

    def resolver(self, *, lifetime: float = 5.0) -> dns.resolver.Resolver:
        """A dnspython resolver that asks only this server."""
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [self.host]
        resolver.port = self.port
        resolver.lifetime = lifetime
        return resolver

    def logs(self) -> str:
        """dnsmasq's log: one line per query and answer."""
        if self.directory is None:
            return self._final_log
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __repr__(self) -> str:
        return f"<DnsServer {self.address}>"
