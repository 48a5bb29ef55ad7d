"""The form of Admin Center → Email authentication (SPEC F11): the authentication profile and
the trusted forwarders, read and checked line by line before anything is saved."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.boundfield import BoundWidget
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from postdesk.dns.names import InvalidDomain, normalise_domain
from postdesk.mail.rules.base import AuthProfile

# A list an admin maintains by hand; a longer one is a paste gone wrong, and every entry is
# compared with every inbound mail's ARC and Authentication-Results headers.
MAX_FORWARDERS = 50
MAX_DOMAIN_LENGTH = 253

PROFILE_LABELS: dict[str, Promise] = {
    AuthProfile.OFF: _("Off"),
    AuthProfile.DEFAULT: _("Default (recommended)"),
    AuthProfile.STRICT: _("Strict"),
}
PROFILE_DESCRIPTIONS: dict[str, Promise] = {
    AuthProfile.OFF: _(
        "No checks. Any mail from an agent's address acts with the agent's rights, even a "
        "forged one."
    ),
    AuthProfile.DEFAULT: _(
        "Every mail's SPF, DKIM, DMARC and ARC results are checked and shown on the ticket. "
        "Mail that claims to come from an agent or a support address and does not pass is "
        "suspended as possible spoofing (failed authentication). Only mail that passes may act "
        "with an agent's rights."
    ),
    AuthProfile.STRICT: _(
        "As the default, and every other mail that does not pass is suspended too."
    ),
}


def _description_id(option_id: str) -> str:
    return f"{option_id}-description"


class DescribedRadioSelect(forms.RadioSelect):
    """Radio buttons whose every option points (aria-describedby) at its explanation, which
    the template renders under the option with ``_description_id``; a screen reader reads
    the explanation with the option."""

    def create_option(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(*args, **kwargs)
        option_id = option["attrs"].get("id")
        if option_id:
            option["attrs"]["aria-describedby"] = _description_id(option_id)
        return option


def clean_forwarders(text: str) -> list[str]:
    """The domains of ``text`` (one a line), lowercase and without repeats, in the order given;
    ValidationError naming every bad line (by its number, as the admin sees the textarea)."""
    domains: list[str] = []
    errors: list[ValidationError] = []
    for number, line in enumerate(text.splitlines(), start=1):
        value = line.strip().lower()
        if not value:
            continue
        problem = _domain_problem(value)
        if problem is not None:
            errors.append(
                ValidationError(problem, code="invalid", params={"line": number, "value": value})
            )
        elif value not in domains:
            domains.append(value)
    if errors:
        raise ValidationError(errors)
    if len(domains) > MAX_FORWARDERS:
        raise ValidationError(
            _("At most %(limit)d trusted forwarders; this list has %(count)d."),
            code="too_many",
            params={"limit": MAX_FORWARDERS, "count": len(domains)},
        )
    return domains


def _domain_problem(value: str) -> str | None:
    """What is wrong with the lowercase, stripped entry ``value``, or None (in the language of
    the request: validation runs while it is active)."""
    # The two likely slips get their own words: an address's "@domain" and a zone file's
    # absolute name. Neither is silently fixed, so the admin sees what the list will hold.
    if value.startswith("@"):
        return gettext("Line %(line)d: “%(value)s”: write the domain without “@”.")
    if value.endswith("."):
        return gettext("Line %(line)d: “%(value)s”: remove the dot at the end.")
    if len(value) > MAX_DOMAIN_LENGTH:
        return gettext("Line %(line)d: the domain is longer than 253 characters.")
    # The desk's one domain check (postdesk.dns.names) decides the rest, in ASCII only: seals
    # and Authentication-Results name hosts by their ASCII (A-label) form, which is what the
    # admin must write for an entry to ever match.
    try:
        valid = value.isascii() and normalise_domain(value) == value
    except InvalidDomain:
        valid = False
    if not valid:
        return gettext(
            "Line %(line)d: “%(value)s” is not a domain name (letters, digits and hyphens, "
            "with at least one dot, e.g. mx.mycompany.com)."
        )
    return None


class AuthenticationSettingsForm(forms.Form):
    auth_profile = forms.ChoiceField(
        label=_("Authentication profile"),
        choices=[(profile.value, PROFILE_LABELS[profile]) for profile in AuthProfile],
        widget=DescribedRadioSelect,
    )
    trusted_forwarders = forms.CharField(
        label=_("Trusted forwarders"),
        required=False,
        # Stripped per line in clean_trusted_forwarders, where line numbers still count.
        strip=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 40, "spellcheck": "false"}),
        help_text=_(
            "One domain per line. Forwarded mail fails SPF by design, so Postdesk believes a "
            "forwarder's own checks: an ARC seal by one of these domains (e.g. google.com for "
            "Gmail and Google Workspace forwarding, microsoft.com or outlook.com for Microsoft "
            "365) and, for mail handed over by a local mail server (pipe or LMTP), "
            "Authentication-Results from one of these hosts or a host under one "
            "(e.g. mx.mycompany.com)."
        ),
    )

    def clean_trusted_forwarders(self) -> list[str]:
        return clean_forwarders(self.cleaned_data.get("trusted_forwarders") or "")

    def profile_options(self) -> list[tuple[BoundWidget, Promise, str]]:
        """Each profile's radio button, its explanation and the explanation's element id."""
        return [
            (
                option,
                PROFILE_DESCRIPTIONS[option.data["value"]],
                _description_id(option.id_for_label),
            )
            for option in self["auth_profile"]
        ]
