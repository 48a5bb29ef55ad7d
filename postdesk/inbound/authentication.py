"""The authentication step of the inbound pipeline (SPEC F11): what the transport saw and what
the admin trusts, handed to `postdesk.mail.authentication.evaluate`.

* `check(message, raw, forwarders)` evaluates one mail: SPF of the connecting client (only when
  it connected to us directly from a public address: our own MTA or a private relay in front
  of us says nothing about the sender), DKIM, DMARC, and ARC. ARC seals by a trusted forwarder
  count everywhere, since they are signed; plain ``Authentication-Results`` count only when a
  local MTA or the mailbox provider handed the mail over (pipe, LMTP, HTTP, IMAP, or SMTP from
  an address that is not a global one), because on mail that came straight from the Internet
  anyone could have written them.
* `mail_lookup()` is the DNS every check asks: the servers of ``POSTDESK_DNS`` through one
  cache per process (the same keys and DMARC records come back mail after mail). After a
  timeout the process doesn't ask again for 30 seconds and, within one mail, not at all, so a
  DNS outage costs the worker one timeout now and then instead of one per query; those mails
  get ``temperror``. Tests replace it with a lookup table.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable

from django.conf import settings

from postdesk.dns.cache import cached
from postdesk.dns.resolver import (
    Lookup,
    answering_lookup,
    giving_up_after_timeout,
    make_resolver,
    resting_after_timeout,
)
from postdesk.mail.authentication import AuthResult, Connection, Trust, evaluate
from postdesk.mail.envelope import Transport
from postdesk.spool.models import InboundMessage

__all__ = ["check", "handed_over_locally", "mail_lookup"]

# Transports through which a mail reaches us from something the admin runs or chose: an MTA
# piping or LMTP-ing it, an authenticated HTTP post, the IMAP mailbox's provider.
_HANDED_OVER = frozenset({Transport.PIPE, Transport.LMTP, Transport.HTTP, Transport.IMAP})

logger = logging.getLogger(__name__)

_SHARED: dict[tuple[str, ...], Lookup] = {}


def mail_lookup() -> Lookup:
    """The lookup one mail's check uses (see the module docstring)."""
    servers = tuple(settings.POSTDESK.dns_servers)
    shared = _SHARED.get(servers)
    if shared is None:
        shared = _SHARED[servers] = cached(
            resting_after_timeout(answering_lookup(make_resolver(servers)))
        )
    return giving_up_after_timeout(shared)


def check(message: InboundMessage, raw: bytes, forwarders: Iterable[str]) -> AuthResult:
    local = handed_over_locally(message)
    entries = frozenset(entry.strip().lower() for entry in forwarders if entry.strip())
    connection = Connection(
        client_ip=message.peer_ip or "",
        helo=message.helo or "",
        mail_from=message.mail_from.strip().strip("<>"),
    )
    trust = Trust(
        arc_sealers=entries,
        authserv_ids=entries if local else frozenset(),
        check_spf=message.transport == Transport.SMTP and not local,
    )
    try:
        return evaluate(raw, connection, trust, mail_lookup())
    except Exception as error:
        # evaluate() catches what the mail can provoke in dkimpy and pyspf; should something
        # still escape, the mail must end somewhere, and unproven: "temperror" holds a mail
        # claiming an agent in the queue and lets a customer's mail through.
        logger.exception("authentication check of inbound %s failed", message.pk)
        return AuthResult("temperror", f"the check failed ({type(error).__name__})")


def handed_over_locally(message: InboundMessage) -> bool:
    """Whether the mail came from an MTA or provider in front of us rather than straight from
    the sender's server."""
    if message.transport in _HANDED_OVER:
        return True
    return not _on_the_internet(message.peer_ip or "")


def _on_the_internet(address: str) -> bool:
    """Whether ``address`` is a global one: loopback, private, link-local, shared and
    documentation ranges are the desk's own network (an MTA or relay in front of it)."""
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        # No usable peer address (a unix socket): nothing to check SPF of.
        return False
    return ip.is_global
