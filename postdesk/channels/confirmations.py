"""Storing Gmail forwarding confirmations for the admin (SPEC F4).

A confirmation reaches the hosted address Gmail was asked to forward to. It is filed under the
external address it belongs to: the one whose email is the Gmail account asking to forward,
else an external address forwarding to the hosted address it reached, else that hosted
address itself. The admin reads the code and the link on the address's setup page; Postdesk
never opens the link.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from postdesk.channels.addresses import ensure_system_address
from postdesk.channels.models import (
    AddressEvent,
    AddressKind,
    EventKind,
    GmailConfirmation,
    SupportAddress,
)
from postdesk.mail import gmail


def owner(found: gmail.GmailConfirmation, reached: list[str]) -> SupportAddress:
    """The address a confirmation is shown on. ``reached``: the desk addresses it came to."""
    if found.requested_by:
        external = SupportAddress.objects.filter(
            email=found.requested_by, kind=AddressKind.EXTERNAL
        ).first()
        if external is not None:
            return external
    hosted = list(SupportAddress.objects.filter(email__in=reached, kind=AddressKind.HOSTED))
    for address in hosted:
        forwarder = address.forwarded_from.order_by("id").first()
        if forwarder is not None:
            return forwarder
    return hosted[0] if hosted else ensure_system_address()


@transaction.atomic
def record(
    found: gmail.GmailConfirmation,
    *,
    reached: list[str],
    subject: str,
    inbound_id: int | None = None,
) -> GmailConfirmation:
    address = owner(found, reached)
    confirmation = GmailConfirmation.objects.create(
        address=address,
        requested_by=(found.requested_by or "")[:320],
        code=found.code,
        confirmation_url=found.confirmation_url or "",
        subject=subject[:998],
        inbound_id=inbound_id,
        received_at=timezone.now(),
    )
    AddressEvent.objects.create(
        address=address,
        kind=EventKind.GMAIL_CONFIRMATION,
        detail=_(
            "Gmail sent confirmation code %(code)s for forwarding from %(account)s. "
            "Open the address's setup page to confirm."
        )
        % {"code": found.code, "account": found.requested_by or address.email},
        data={"confirmation": confirmation.pk},
        notice=True,
    )
    return confirmation
