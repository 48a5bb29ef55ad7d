"""The DNS seam: every lookup of the domain checks goes through a :class:`Lookup`.

A lookup takes a name and a record type (``TXT`` or ``CNAME``) and answers the values:
TXT records as text with their character-strings joined (RFC 7208 3.3, RFC 6376 3.6.2.2),
a CNAME as its target without the final dot. A name or type that doesn't exist (NXDOMAIN,
an empty answer) is an empty list, because for SPF, DKIM and DMARC "no record" is an answer;
a lookup that could not be answered (timeout, SERVFAIL, no server reachable) raises
:class:`LookupFailed`, because then nothing can be said about the record.

:func:`system_lookup` asks the servers of ``POSTDESK_DNS`` (``ip[:port][,…]``), or the
system's resolver when it is empty, through dnspython: two seconds per query, retrying over
TCP when an answer comes back truncated, as dnspython does on its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Final

import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver
from django.utils.translation import gettext as _

Lookup = Callable[[str, str], list[str]]

TIMEOUT_SECONDS: Final = 2.0
_DEFAULT_PORT: Final = 53


class LookupFailed(Exception):
    """The DNS gave no answer for a name (timeout, SERVFAIL, unreachable server)."""

    def __init__(
        self, name: str, record_type: str, reason: str, *, timed_out: bool = False
    ) -> None:
        super().__init__(f"{record_type} {name}: {reason}")
        self.name = name
        self.record_type = record_type
        self.reason = reason
        self.timed_out = timed_out

    @property
    def problem(self) -> str:
        """The failure in the words every check reports it with."""
        return _("Could not look up %(type)s %(name)s: %(reason)s") % {
            "type": self.record_type,
            "name": self.name,
            "reason": self.reason,
        }


def parse_server(server: str) -> tuple[str, int]:
    """``ip``, ``ip:port``, ``[v6]:port`` or a bare IPv6 address → (address, port)."""
    server = server.strip()
    if server.startswith("["):
        address, _, rest = server[1:].partition("]")
        port = rest.removeprefix(":")
        return address, int(port) if port else _DEFAULT_PORT
    if server.count(":") > 1:  # a bare IPv6 address has no port
        return server, _DEFAULT_PORT
    address, _, port = server.partition(":")
    return address, int(port) if port else _DEFAULT_PORT


def make_resolver(
    servers: Sequence[str], *, timeout: float = TIMEOUT_SECONDS
) -> dns.resolver.Resolver:
    """A dnspython resolver asking ``servers`` (the system's when empty)."""
    if servers:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [
            dns.nameserver.Do53Nameserver(address, port)
            for address, port in map(parse_server, servers)
        ]
    else:
        resolver = dns.resolver.Resolver()
    resolver.timeout = timeout
    resolver.lifetime = timeout
    return resolver


def resolver_lookup(resolver: dns.resolver.Resolver) -> Lookup:
    """A :class:`Lookup` answered by ``resolver``, giving up after its first timeout (see
    :func:`giving_up_after_timeout`): what one check of one domain or one mail should use."""
    return giving_up_after_timeout(answering_lookup(resolver))


def giving_up_after_timeout(lookup: Lookup) -> Lookup:
    """``lookup``, except that once a query has timed out, later queries fail at once with the
    same reason: servers that didn't answer one name in time won't answer the next, and a
    check of one domain (or of one mail's signatures) makes a dozen queries that would each
    wait out the timeout."""
    timed_out: LookupFailed | None = None

    def lookup_once_answering(name: str, record_type: str) -> list[str]:
        nonlocal timed_out
        if timed_out is not None:
            raise LookupFailed(name, record_type, timed_out.reason, timed_out=True)
        try:
            return lookup(name, record_type)
        except LookupFailed as failure:
            if failure.timed_out:
                timed_out = failure
            raise

    return lookup_once_answering


def resting_after_timeout(
    lookup: Lookup, rest_seconds: float = 30.0, clock: Callable[[], float] = time.monotonic
) -> Lookup:
    """``lookup`` for a long-lived process: after a timeout, every query of the next
    ``rest_seconds`` fails at once with the same reason, then the servers are asked again.
    While the DNS is down, a worker then pays one timeout per rest instead of one per mail,
    and keeps processing mail at its usual pace."""
    lock = threading.Lock()
    resting: tuple[float, LookupFailed] | None = None

    def lookup_unless_resting(name: str, record_type: str) -> list[str]:
        nonlocal resting
        with lock:
            if resting is not None and clock() < resting[0]:
                raise LookupFailed(name, record_type, resting[1].reason, timed_out=True)
        try:
            return lookup(name, record_type)
        except LookupFailed as failure:
            if failure.timed_out:
                with lock:
                    resting = (clock() + rest_seconds, failure)
            raise

    return lookup_unless_resting


def answering_lookup(resolver: dns.resolver.Resolver) -> Lookup:
    """A :class:`Lookup` answered by ``resolver``, each query on its own: for a long-lived
    process, where one timeout must not silence the lookups of later mails."""

    def lookup(name: str, record_type: str) -> list[str]:
        try:
            answer = resolver.resolve(name, record_type, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.Timeout:
            raise LookupFailed(name, record_type, _("no answer in time"), timed_out=True) from None
        except dns.resolver.NoNameservers:
            raise LookupFailed(name, record_type, _("the DNS server failed or refused")) from None
        except dns.exception.DNSException as error:
            raise LookupFailed(name, record_type, str(error) or type(error).__name__) from None
        if record_type.upper() == "TXT":
            return [
                b"".join(rdata.strings).decode("utf-8", errors="replace")
                for rdata in answer
                if rdata.rdtype == dns.rdatatype.TXT
            ]
        return [rdata.to_text().rstrip(".").lower() for rdata in answer]

    return lookup


def system_lookup() -> Lookup:
    """The lookup of ``POSTDESK_DNS`` (read at call time, so tests can point it elsewhere)."""
    from django.conf import settings

    return resolver_lookup(make_resolver(settings.POSTDESK.dns_servers))
