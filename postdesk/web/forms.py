"""Forms of the agent UI and the Admin Center. Every one is rendered with ``{% csrf_token %}``
and validated here; ticket changes are carried out by ``postdesk.web.actions``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _

from postdesk.tickets.models import Group, Priority, Role, Status, User, normalize_email
from postdesk.web.actions import MAX_UPLOAD_BYTES


class AgentAuthenticationForm(AuthenticationForm):
    """Sign-in for agents and admins only: customers never sign in (SPEC §1)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "not_agent": _("This account can't sign in here."),
    }

    def clean_username(self) -> str:
        # Identities are stored lower-cased; people type their address in any case.
        return normalize_email(str(self.cleaned_data.get("username") or ""))

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if not getattr(user, "is_agent", False):
            raise forms.ValidationError(self.error_messages["not_agent"], code="not_agent")


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile[Any]]:
        files = data if isinstance(data, (list, tuple)) else ([data] if data else [])
        cleaned = [super(MultipleFileField, self).clean(f, initial) for f in files]
        for upload in cleaned:
            if upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
                raise forms.ValidationError(
                    _("%(name)s is larger than 25 MB.") % {"name": upload.name}
                )
        return cleaned


class TicketUpdateForm(forms.Form):
    """The ticket page's one form: properties, CCs, and an optional reply or note."""

    status = forms.ChoiceField(label=_("Status"), choices=[])
    priority = forms.ChoiceField(
        label=_("Priority"), choices=[("", "—"), *Priority.choices], required=False
    )
    group = forms.ModelChoiceField(
        label=_("Group"), queryset=Group.objects.none(), required=False, empty_label="—"
    )
    assignee = forms.ModelChoiceField(
        label=_("Assignee"), queryset=User.objects.none(), required=False, empty_label="—"
    )
    tags = forms.CharField(label=_("Tags"), required=False, max_length=4000)
    add_cc = forms.CharField(
        label=_("Add CC"),
        required=False,
        max_length=1000,
        help_text=_("Email addresses, separated by commas"),
    )
    remove_cc = forms.MultipleChoiceField(label=_("Remove CC"), required=False, choices=[])
    body = forms.CharField(
        label=_("Comment"), required=False, widget=forms.Textarea(attrs={"rows": 6})
    )
    public = forms.TypedChoiceField(
        label=_("Visibility"),
        choices=[("1", _("Public reply")), ("0", _("Internal note"))],
        coerce=lambda value: value == "1",
        initial="1",
        widget=forms.RadioSelect,
    )
    attachments = MultipleFileField(label=_("Attachments"), required=False)

    def __init__(self, *args: Any, cc_choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Closed tickets are archived: agents can't pick that status by hand.
        status_field = self.fields["status"]
        assert isinstance(status_field, forms.ChoiceField)
        status_field.choices = [c for c in Status.choices if c[0] != Status.CLOSED]
        group_field = self.fields["group"]
        assert isinstance(group_field, forms.ModelChoiceField)
        group_field.queryset = Group.objects.order_by("name")
        assignee_field = self.fields["assignee"]
        assert isinstance(assignee_field, forms.ModelChoiceField)
        assignee_field.queryset = User.objects.filter(
            role__in=(Role.AGENT, Role.ADMIN), is_active=True
        ).order_by("name", "email")
        remove_field = self.fields["remove_cc"]
        assert isinstance(remove_field, forms.MultipleChoiceField)
        remove_field.choices = cc_choices

    def clean_add_cc(self) -> list[str]:
        raw = str(self.cleaned_data.get("add_cc") or "")
        emails = [part.strip() for part in raw.replace(";", ",").split(",") if part.strip()]
        validator = forms.EmailField()
        for email in emails:
            validator.clean(email)
        return emails

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("attachments") and not str(data.get("body") or "").strip():
            self.add_error("body", _("Write a comment to go with the attachments."))
        return data


class GroupForm(forms.ModelForm[Group]):
    members = forms.ModelMultipleChoiceField(
        label=_("Agents"),
        queryset=User.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = Group
        fields = ("name", "description", "members")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        members = self.fields["members"]
        assert isinstance(members, forms.ModelMultipleChoiceField)
        members.queryset = User.objects.filter(role__in=(Role.AGENT, Role.ADMIN)).order_by(
            "name", "email"
        )


class AgentCreateForm(forms.Form):
    email = forms.EmailField(label=_("Email"), max_length=254)
    name = forms.CharField(label=_("Name"), max_length=255, required=False)
    role = forms.ChoiceField(
        label=_("Role"), choices=[(Role.AGENT, _("Agent")), (Role.ADMIN, _("Admin"))]
    )
    password = forms.CharField(
        label=_("Password"),
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Leave empty to get a one-time link the agent uses to choose a password."),
    )

    def clean_email(self) -> str:
        email = normalize_email(self.cleaned_data["email"])
        existing = User.objects.filter(email=email).first()
        if existing is not None and existing.is_agent:
            raise forms.ValidationError(_("This person is already an agent."))
        return email

    def clean_password(self) -> str:
        from django.contrib.auth.password_validation import validate_password

        password = str(self.cleaned_data.get("password") or "")
        if password:
            validate_password(password)
        return password


class AgentRoleForm(forms.Form):
    role = forms.ChoiceField(
        label=_("Role"),
        choices=[(Role.AGENT, _("Agent")), (Role.ADMIN, _("Admin")), (Role.END_USER, _("None"))],
    )
    active = forms.BooleanField(label=_("Active"), required=False)


class TokenForm(forms.Form):
    name = forms.CharField(label=_("Token name"), max_length=255)


class ProfileForm(forms.ModelForm[User]):
    class Meta:
        model = User
        fields = ("name", "locale")
        widgets = {"locale": forms.Select()}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from django.conf import settings

        super().__init__(*args, **kwargs)
        self.fields["locale"].widget = forms.Select(
            choices=[("", _("Browser's language")), *settings.LANGUAGES]
        )
