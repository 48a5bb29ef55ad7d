"""The mail the channels app sends, through the outbound app's durable outbox.

- the forwarding test mail (SPEC F3): From the system address, To the external address, with
  the verification token in a header, the subject and the body;
- admin notices about addresses (verification failed, forwarding target changed);
- what became of a test mail in the outbox, so a refused send reads ``send_failed``.

The outbox rows are written in the caller's transaction; a worker sends them later. Nothing
here talks to a relay.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.utils.translation import gettext as _

from postdesk.channels.models import SupportAddress
from postdesk.mail.tokens import VERIFICATION_HEADER

# Outbox states of a test mail, as far as verification cares.
SENT = "sent"
REFUSED = "refused"
PENDING = "pending"


def test_mail_subject(address: SupportAddress, token: str) -> str:
    # The token stays in the subject too: forwarders that drop unknown headers keep subjects.
    return _("Postdesk forwarding test for %(email)s [%(token)s]") % {
        "email": address.email,
        "token": token,
    }


def test_mail_text(address: SupportAddress, token: str) -> str:
    target = address.forwarding_target.email if address.forwarding_target else ""
    return _(
        "This is a test mail from Postdesk.\n\n"
        "It was sent to %(email)s to check that mail to it is forwarded to %(target)s. "
        "When it arrives there, Postdesk marks the address verified and starts sending "
        "replies from it. You don't need to do anything with this mail.\n\n"
        "Verification code: %(token)s\n"
    ) % {"email": address.email, "target": target, "token": token}


def send_test_mail(address: SupportAddress, token: str) -> int:
    """Queue the test mail; returns the outbox row's id."""
    from postdesk.outbound.services import send_system_mail

    message = send_system_mail(
        to=address.email,
        subject=test_mail_subject(address, token),
        text=test_mail_text(address, token),
        headers={VERIFICATION_HEADER: token},
        from_address=settings.POSTDESK.system_address,
    )
    return int(message.pk)


def tell_admins(subject: str, text: str, address: SupportAddress | None = None) -> None:
    """Mail every admin (the banner is the ``AddressEvent`` the caller records)."""
    from postdesk.outbound.services import send_admin_notice

    link = ""
    if address is not None:
        from django.urls import reverse

        path = reverse("channels:address", args=[address.pk])
        link = f"\n\n{settings.POSTDESK.public_url}{path}\n"
    send_admin_notice(subject, text + link)


def test_mail_states(outbound_ids: Iterable[int]) -> dict[int, str]:
    """``SENT``, ``REFUSED`` (the relay refused it for good, or every recipient failed) or
    ``PENDING`` (queued, or being retried after temporary failures) per outbox row."""
    from postdesk.outbound.models import OutboundMessage, OutboundStatus, RecipientStatus

    ids = list(outbound_ids)
    states: dict[int, str] = {}
    rows = OutboundMessage.objects.filter(pk__in=ids).prefetch_related("recipients")
    for message in rows:
        recipient_states = {r.status for r in message.recipients.all()}
        if message.status == OutboundStatus.FAILED or (
            recipient_states
            and recipient_states <= {RecipientStatus.FAILED, RecipientStatus.BOUNCED}
        ):
            states[message.pk] = REFUSED
        elif message.status == OutboundStatus.SENT:
            states[message.pk] = SENT
        else:
            states[message.pk] = PENDING
    return states
