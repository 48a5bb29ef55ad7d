"""The Admin Center shell (SPEC F15): its home and navigation, groups and agents.

Channels → Email, its routing and the recent inbound mail live in ``postdesk.channels``;
suspended mail in ``postdesk.suspension``; the outbox in ``postdesk.outbound``. This module
links to them and owns the rest. Admins only.

Inviting an agent creates the account without a usable password and shows the admin a
one-time link (Django's password-reset token: it expires and dies once used) to hand over;
the agent chooses a password there.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from postdesk.tickets.models import Group, Role, Ticket, User, UserIdentity
from postdesk.web.access import admin_required
from postdesk.web.forms import AgentCreateForm, AgentRoleForm, GroupForm
from postdesk.web.queues import UNSOLVED


@admin_required
@require_GET
def admin_home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "web/admin/home.html",
        {
            "section": "home",
            "agents": User.objects.filter(role__in=(Role.AGENT, Role.ADMIN)).count(),
            "groups": Group.objects.count(),
        },
    )


@admin_required
@require_GET
def group_list(request: HttpRequest) -> HttpResponse:
    groups = Group.objects.annotate(
        member_count=Count("members", distinct=True),
        unsolved=Count("ticket", filter=Q(ticket__status__in=UNSOLVED), distinct=True),
    ).order_by("name")
    return render(request, "web/admin/groups.html", {"section": "groups", "groups": groups})


@admin_required
@require_http_methods(["GET", "POST"])
def group_edit(request: HttpRequest, group_id: int | None = None) -> HttpResponse:
    group = get_object_or_404(Group, pk=group_id) if group_id is not None else None
    form = GroupForm(request.POST or None, instance=group)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        messages.success(request, _("Group “%(name)s” saved.") % {"name": saved.name})
        return redirect("admin-groups")
    return render(
        request, "web/admin/group_form.html", {"section": "groups", "form": form, "group": group}
    )


@admin_required
@require_POST
def group_delete(request: HttpRequest, group_id: int) -> HttpResponse:
    group = get_object_or_404(Group, pk=group_id)
    name = group.name
    # Tickets keep existing without a group (on_delete=SET_NULL); routing to it stops.
    group.delete()
    messages.success(request, _("Group “%(name)s” deleted.") % {"name": name})
    return redirect("admin-groups")


def _invite_link(request: HttpRequest, user: User) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return request.build_absolute_uri(reverse("set-password", args=[uid, token]))


@admin_required
@require_http_methods(["GET", "POST"])
def agent_list(request: HttpRequest) -> HttpResponse:
    form = AgentCreateForm(request.POST or None)
    invite_link = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        with transaction.atomic():
            user = User.objects.filter(email=data["email"]).first()
            if user is None:
                owner = UserIdentity.objects.filter(email=data["email"]).first()
                user = owner.user if owner is not None else None
            if user is None:
                user = User.objects.create_user(data["email"], name=data["name"])
            user.role = data["role"]
            user.name = data["name"] or user.name
            user.is_active = True
            if data["password"]:
                user.set_password(data["password"])
            else:
                user.set_unusable_password()
            user.save()
        if data["password"]:
            messages.success(request, _("%(email)s can sign in now.") % {"email": user.email})
            return redirect("admin-agents")
        invite_link = _invite_link(request, user)
        form = AgentCreateForm()
    agents = User.objects.filter(role__in=(Role.AGENT, Role.ADMIN)).order_by("name", "email")
    response = render(
        request,
        "web/admin/agents.html",
        {"section": "agents", "form": form, "agents": agents, "invite_link": invite_link},
    )
    if invite_link:
        response["Cache-Control"] = "no-store"
    return response


@admin_required
@require_http_methods(["GET", "POST"])
def agent_edit(request: HttpRequest, user_id: int) -> HttpResponse:
    agent = get_object_or_404(User, pk=user_id, role__in=(Role.AGENT, Role.ADMIN))
    form = AgentRoleForm(
        request.POST or None, initial={"role": agent.role, "active": agent.is_active}
    )
    if request.method == "POST" and form.is_valid():
        if agent.pk == request.user.pk and (
            form.cleaned_data["role"] != Role.ADMIN or not form.cleaned_data["active"]
        ):
            # An admin can't lock themselves out; another admin must do it.
            form.add_error(None, _("You can't remove your own admin access."))
        else:
            agent.role = form.cleaned_data["role"]
            agent.is_active = form.cleaned_data["active"]
            agent.save(update_fields=["role", "is_active", "updated_at"])
            if agent.role == Role.END_USER:
                Ticket.objects.filter(assignee=agent, status__in=UNSOLVED).update(assignee=None)
                agent.agent_groups.clear()
            messages.success(request, _("%(email)s updated.") % {"email": agent.email})
            return redirect("admin-agents")
    return render(
        request, "web/admin/agent_form.html", {"section": "agents", "form": form, "agent": agent}
    )


@admin_required
@require_POST
def agent_invite_link(request: HttpRequest, user_id: int) -> HttpResponse:
    """A fresh one-time link for an agent who lost theirs (or their password)."""
    agent = get_object_or_404(User, pk=user_id, role__in=(Role.AGENT, Role.ADMIN))
    agents = User.objects.filter(role__in=(Role.AGENT, Role.ADMIN)).order_by("name", "email")
    response = render(
        request,
        "web/admin/agents.html",
        {
            "section": "agents",
            "form": AgentCreateForm(),
            "agents": agents,
            "invite_link": _invite_link(request, agent),
            "invite_for": agent,
        },
    )
    response["Cache-Control"] = "no-store"
    return response
