"""The From of every outbound mail on a ticket: SPEC F12's decision, in this one place.

A ticket's mail goes out from its received-at address when Postdesk may send as it: a hosted
address always, an external address only once forwarding to it was verified (SPEC F3: until
then it is receive-only, and a mail from ``help@mycompany.com`` that Postdesk cannot prove
it handles would be a spoof). Otherwise the default address, else the system address.
"""

from __future__ import annotations

from postdesk.channels.addresses import ensure_system_address
from postdesk.channels.models import AddressKind, SupportAddress, VerificationStatus
from postdesk.tickets.models import Ticket


def may_send_from(address: SupportAddress) -> bool:
    """Whether mail may carry ``address`` as its From."""
    if address.kind == AddressKind.HOSTED:
        return True
    return address.forwarding_status == VerificationStatus.VERIFIED


def default_from_address() -> SupportAddress:
    """The default address if mail may go out from it, else the system address."""
    default = SupportAddress.objects.filter(default=True).first()
    if default is not None and may_send_from(default):
        return default
    system = SupportAddress.objects.filter(is_system=True).first()
    return system if system is not None else ensure_system_address()


def from_address_for(ticket: Ticket | None) -> SupportAddress:
    """The support address the ticket's outbound mail is sent from."""
    received_at = ticket.received_at if ticket is not None else None
    if received_at is not None and may_send_from(received_at):
        return received_at
    return default_from_address()
