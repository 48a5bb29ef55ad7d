"""The form of Admin Center → Mailboxes → Connect a mailbox (SPEC F15, F17).

It checks only what can be checked without the server: the values ``postdesk mailbox add``
refuses with exit 2. Proving the connection and saving are ``setup.add_mailbox``'s job.
The password never goes back into the page (``render_value=False``), not even when another
field is refused.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from postdesk.mailboxes.connect import Server
from postdesk.mailboxes.models import TlsMode
from postdesk.mailboxes.setup import SetupError, address_for, server_for

# The most messages the form imports on connect: each is spooled while the admin waits.
MAX_IMPORT_LAST = 500


class MailboxForm(forms.Form):
    host = forms.CharField(
        label=_("IMAP server"),
        max_length=255,
        help_text=_("The host name of the mailbox's IMAP server, e.g. imap.mycompany.com."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    tls = forms.ChoiceField(
        label=_("Encryption"),
        choices=TlsMode.choices,
        initial=TlsMode.SSL,
        help_text=_(
            "“No encryption” sends the password in clear text: use it only for an IMAP "
            "server on the same machine as Postdesk."
        ),
    )
    port = forms.IntegerField(
        label=_("Port"),
        required=False,
        min_value=1,
        max_value=65535,
        help_text=_("Leave empty for the usual port: 993 with implicit TLS, 143 otherwise."),
    )
    username = forms.CharField(
        label=_("Username"),
        max_length=320,
        help_text=_("Usually the mailbox's email address."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        max_length=4096,
        help_text=_(
            "The password or an app password. Postdesk keeps it encrypted and never shows it again."
        ),
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    folder = forms.CharField(
        label=_("Folder"),
        max_length=255,
        initial="INBOX",
        help_text=_("The folder to read new mail from."),
    )
    import_last = forms.IntegerField(
        label=_("Import the latest messages"),
        required=False,
        min_value=0,
        max_value=MAX_IMPORT_LAST,
        help_text=_(
            "Optional: also turn the latest N messages of the folder into tickets now (0 to "
            "500). Leave empty to import only mail that arrives from now on."
        ),
    )
    address = forms.CharField(
        label=_("Support address"),
        required=False,
        max_length=320,
        help_text=_(
            "The address customers write to. Leave empty when the username is that address."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def clean_import_last(self) -> int:
        value = self.cleaned_data.get("import_last")
        return 0 if value is None else int(value)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        username = data.get("username")
        if username:
            try:
                # The CLI's rule: the address given, else the username if it is an email.
                data["email"] = address_for(username, data.get("address") or None)
            except SetupError:
                if data.get("address"):
                    self.add_error("address", _("Enter a valid email address."))
                else:
                    self.add_error(
                        "address",
                        _(
                            "The username is not an email address: enter the mailbox's "
                            "address here."
                        ),
                    )
        return data

    def server(self) -> Server:
        """The server of the valid form, with the port its encryption implies when empty."""
        data = self.cleaned_data
        return server_for(data["host"], data["port"], data["tls"], data["username"], data["folder"])
