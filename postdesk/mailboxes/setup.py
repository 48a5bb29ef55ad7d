"""Connect a new IMAP mailbox (``postdesk mailbox add``): check it, then save it.

The connection is proved first (log in, open the folder); only then are the support address
and the mailbox saved, with the folder's ``UIDVALIDITY`` and highest UID as the starting
point, so the first poll imports only mail that arrives after connecting. With
``import_last`` the latest N messages of the folder are spooled right away as well.

The connected address becomes a support address:

- at the desk domain it is a hosted address;
- elsewhere it is an external address with no forwarding target and ``forwarding_status``
  verified. Nothing is forwarded: the desk reads the mailbox itself, and logging in to it
  proves the desk receives its mail, which is what the forwarding test mail proves for a
  forwarded address. Verified, the address may also send (SPEC F3/F12), like an external
  address whose forwarding checked out.

An existing support address is reused (an address first set up for forwarding may switch to
IMAP); an address already read by a mailbox is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from postdesk.channels.addresses import is_desk_domain
from postdesk.channels.models import AddressKind, Provider, SupportAddress, VerificationStatus
from postdesk.channels.services import AddressError, clean_email
from postdesk.mailboxes import sealed
from postdesk.mailboxes.connect import (
    ConnectError,
    Credentials,
    Server,
    default_port,
    select,
    session,
    uidvalidity_of,
)
from postdesk.mailboxes.models import Mailbox
from postdesk.mailboxes.poll import highest_uid, import_uids


class SetupError(Exception):
    """The mailbox can't be added (not a connection problem: see ``ConnectError``)."""


@dataclass(frozen=True)
class Added:
    mailbox: Mailbox
    imported: int
    import_error: str = ""  # the mailbox is saved, but spooling the latest N failed


# Hosts whose provider the Admin Center knows by name.
_PROVIDERS = {
    "imap.gmail.com": Provider.GMAIL,
    "imap.googlemail.com": Provider.GMAIL,
    "outlook.office365.com": Provider.MICROSOFT,
    "imap-mail.outlook.com": Provider.MICROSOFT,
}


def server_for(host: str, port: int | None, tls: str, username: str, folder: str) -> Server:
    """The server to connect to, from what an admin typed (the command's flags or the Admin
    Center's form): the host stripped, the port its encryption implies when none is given.
    ``SetupError`` for values no server could take."""
    host = host.strip()
    port = port if port is not None else default_port(tls)
    if not 0 < port < 65536:
        raise SetupError(f"port {port} is not a TCP port")
    if not host or not username or not folder:
        raise SetupError("the host, username and folder may not be empty")
    return Server(host=host, port=port, tls=tls, username=username, folder=folder)


def address_for(username: str, address: str | None) -> str:
    """The support address: ``address`` if given, else the username if it is an email."""
    try:
        return clean_email(address if address else username)
    except AddressError as exc:
        if address:
            raise SetupError(f"--address: {exc}") from exc
        raise SetupError(
            f"the username {username!r} is not an email address: give the mailbox's "
            "address with --address"
        ) from exc


def add_mailbox(
    server: Server, credentials: Credentials, *, email: str, import_last: int = 0
) -> Added:
    """Check the connection, save address and mailbox, spool the latest ``import_last``."""
    existing = SupportAddress.objects.filter(email=email).first()
    if existing is not None and Mailbox.objects.filter(address=existing).exists():
        raise SetupError(f"{email} is already read from an IMAP mailbox")
    with session(server, credentials) as client:
        status = select(client, server)
        uidvalidity = uidvalidity_of(server, status)
        highest = highest_uid(client, status)
        latest = sorted(client.search(["ALL"]))[-import_last:] if import_last > 0 else []
        mailbox = _save(server, credentials, email, uidvalidity, highest, import_last)
        try:
            imported = import_uids(client, mailbox, uidvalidity, latest)
        except Exception as exc:
            # Saved and working: the next polls bring new mail whatever happened here.
            return Added(mailbox, 0, import_error=str(exc) or type(exc).__name__)
    return Added(mailbox, imported)


@transaction.atomic
def _save(
    server: Server,
    credentials: Credentials,
    email: str,
    uidvalidity: int,
    highest: int,
    import_last: int,
) -> Mailbox:
    address = _support_address(email, server.host)
    if Mailbox.objects.filter(address=address).exists():  # raced with another add
        raise SetupError(f"{email} is already read from an IMAP mailbox")
    return Mailbox.objects.create(
        address=address,
        host=server.host,
        port=server.port,
        tls=server.tls,
        username=server.username,
        folder=server.folder,
        secret_kind=credentials.kind,
        secret_sealed=sealed.seal(
            credentials.secret, host=server.host, username=server.username, kind=credentials.kind
        ),
        uidvalidity=uidvalidity,
        last_uid=highest,
        import_last=import_last,
    )


def _support_address(email: str, host: str) -> SupportAddress:
    now = timezone.now()
    address = SupportAddress.objects.select_for_update().filter(email=email).first()
    hosted = is_desk_domain(email.rpartition("@")[2])
    if address is None:
        address = SupportAddress(
            email=email,
            kind=AddressKind.HOSTED if hosted else AddressKind.EXTERNAL,
            provider="" if hosted else _PROVIDERS.get(host.lower(), Provider.OTHER),
        )
    if address.kind == AddressKind.EXTERNAL:
        address.forwarding_status = VerificationStatus.VERIFIED
        address.last_verified_at = now
        address.failure_reason = ""
    address.save()
    return address


__all__ = ["Added", "ConnectError", "SetupError", "add_mailbox", "address_for"]
