"""Forms of the Admin Center's email pages. They only shape input; the rules live in
``postdesk.channels.services`` and come back as ``AddressError`` onto the right field."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from postdesk.channels.models import AddressKind, Provider, RoutingRule, SupportAddress
from postdesk.channels.routing import clean_tags
from postdesk.channels.services import AddressError
from postdesk.tickets.models import Group, Priority


def add_address_error(form: forms.Form, error: AddressError) -> None:
    """Put a service error on the form field it names, or on the form as a whole."""
    field = error.field if error.field in form.fields else None
    form.add_error(field, error.message)


class HostedAddressForm(forms.Form):
    email = forms.CharField(
        label=_("Address"),
        max_length=254,
        help_text=_("A local part (e.g. billing) or a full address at the desk domain."),
    )
    name = forms.CharField(label=_("Name"), max_length=255, required=False)
    group = forms.ModelChoiceField(
        label=_("Route tickets to group"), queryset=Group.objects.all(), required=False
    )


class ExternalAddressForm(forms.Form):
    """Step 1 of the forwarding wizard (SPEC F2)."""

    TARGET_NEW = "new"
    TARGET_EXISTING = "existing"

    email = forms.EmailField(
        label=_("Your current support address"),
        max_length=254,
        help_text=_("The address your customers already write to, e.g. billing@mycompany.com."),
    )
    name = forms.CharField(label=_("Name"), max_length=255, required=False)
    provider = forms.ChoiceField(
        label=_("Where is this mailbox hosted?"),
        choices=Provider.choices,
        widget=forms.RadioSelect,
        initial=Provider.GMAIL,
    )
    target_choice = forms.ChoiceField(
        label=_("Forward it to"),
        choices=[
            (TARGET_NEW, _("A new hosted address made from its local part (recommended)")),
            (TARGET_EXISTING, _("An existing hosted address")),
        ],
        widget=forms.RadioSelect,
        initial=TARGET_NEW,
    )
    existing_target = forms.ModelChoiceField(
        label=_("Existing hosted address"),
        queryset=SupportAddress.objects.filter(kind=AddressKind.HOSTED),
        required=False,
    )
    group = forms.ModelChoiceField(
        label=_("Route tickets to group"), queryset=Group.objects.all(), required=False
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("target_choice") == self.TARGET_EXISTING and not data.get("existing_target"):
            self.add_error("existing_target", _("Choose the hosted address to forward to."))
        return data


class AddressEditForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=255, required=False)
    group = forms.ModelChoiceField(
        label=_("Route tickets to group"), queryset=Group.objects.all(), required=False
    )


class WildcardForm(forms.Form):
    wildcard_enabled = forms.BooleanField(
        label=_("Turn mail to any address at the desk domain into tickets"), required=False
    )


class RoutingRuleForm(forms.ModelForm):  # type: ignore[type-arg]
    tags_text = forms.CharField(
        label=_("Add tags"),
        required=False,
        max_length=1000,
        help_text=_("Separated by spaces or commas."),
    )
    priority = forms.ChoiceField(
        label=_("Set priority"),
        choices=[("", _("Keep")), *list(Priority.choices)],
        required=False,
    )

    class Meta:
        model = RoutingRule
        fields = ("received_at", "group", "priority", "position", "active")
        labels = {
            "received_at": _("When received at"),
            "group": _("Assign to group"),
            "position": _("Order"),
            "active": _("Active"),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["tags_text"].initial = " ".join(self.instance.tags)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        tags = clean_tags(data.get("tags_text") or "")
        if not data.get("group") and not data.get("priority") and not tags:
            raise forms.ValidationError(_("A rule must set a group, a priority or tags."))
        self.instance.tags = tags
        return data
