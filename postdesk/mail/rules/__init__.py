"""Inbound-mail rules, one per module, each with a ``name``, a ``description`` and
``check(facts, context)``; `postdesk.mail.verdict` turns their hits into an action.

`DEFAULT_RULES` is every rule in the order they are run (the order only matters for the order
of hits in a verdict; which hit wins is the policy table's business).
"""

from __future__ import annotations

from postdesk.mail.rules.autoreply import AutomatedMail
from postdesk.mail.rules.base import (
    MailFacts,
    Rule,
    RuleContext,
    RuleHit,
    RuleSettings,
    headers_from_message,
)
from postdesk.mail.rules.blocklist import Blocklist, BlocklistReject
from postdesk.mail.rules.bounce import Bounce
from postdesk.mail.rules.flood import SenderFlood
from postdesk.mail.rules.loop import LoopHeader
from postdesk.mail.rules.mailing_list import MailingList
from postdesk.mail.rules.malformed import Malformed
from postdesk.mail.rules.out_of_office import OutOfOffice
from postdesk.mail.rules.own_address import OwnAddress
from postdesk.mail.rules.own_message_id import OwnMessageId
from postdesk.mail.rules.spoof import FailedAuthentication
from postdesk.mail.rules.system_sender import SystemSender
from postdesk.mail.rules.too_large import TooLarge
from postdesk.mail.rules.too_many_ccs import TooManyCcs

__all__ = [
    "DEFAULT_RULES",
    "MailFacts",
    "Rule",
    "RuleContext",
    "RuleHit",
    "RuleSettings",
    "headers_from_message",
]

DEFAULT_RULES: tuple[Rule, ...] = (
    LoopHeader(),
    OwnMessageId(),
    OwnAddress(),
    BlocklistReject(),
    Bounce(),
    FailedAuthentication(),
    Blocklist(),
    SenderFlood(),
    Malformed(),
    TooLarge(),
    TooManyCcs(),
    SystemSender(),
    OutOfOffice(),
    AutomatedMail(),
    MailingList(),
)
