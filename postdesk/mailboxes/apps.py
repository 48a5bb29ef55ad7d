"""App configuration of the IMAP connector."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MailboxesConfig(AppConfig):
    name = "postdesk.mailboxes"
    label = "mailboxes"
    verbose_name = _("IMAP mailboxes")
