"""The ticket page: the conversation (sanitized bodies, inline images, attachments, folded
quotes, how each mail arrived, what was sent and whether it was delivered) and the one form
that changes the ticket and adds a public reply or an internal note.

The page loads in a fixed number of queries however long the conversation: comments with
their authors and inbound mail (raw bytes deferred) in one, attachments in one, outbound
mail with recipients in two.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.apps import apps as django_apps
from django.contrib import messages
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from postdesk.tickets.models import Attachment, Comment, Status, Ticket, User, Via
from postdesk.web import actions
from postdesk.web.access import agent_required
from postdesk.web.actions import ActionError, NewComment, TicketChanges, Upload
from postdesk.web.forms import TicketUpdateForm
from postdesk.web.rendering import body_html


def _ticket(ticket_id: int) -> Ticket:
    return get_object_or_404(
        Ticket.objects.select_related(
            "requester", "submitter", "group", "assignee", "received_at", "followup_of"
        ),
        pk=ticket_id,
    )


def _comments(ticket: Ticket) -> list[Comment]:
    return list(
        ticket.comments.select_related("author", "inbound")
        .defer("inbound__raw")
        .prefetch_related(Prefetch("attachments", queryset=Attachment.objects.order_by("id")))
        .order_by("created_at", "id")
    )


def _outbound_by_comment(ticket: Ticket) -> tuple[list[Any], dict[int, list[Any]]]:
    """Outbound mail of the ticket (if the outbound app is installed), and per comment."""
    if not django_apps.is_installed("postdesk.outbound"):
        return [], {}
    from postdesk.outbound.models import OutboundMessage, OutboundRecipient

    mails = list(
        OutboundMessage.objects.filter(ticket=ticket)
        .defer("raw", "dkim_signature")
        .prefetch_related(Prefetch("recipients", queryset=OutboundRecipient.objects.order_by("id")))
        .order_by("created_at", "id")
    )
    by_comment: dict[int, list[Any]] = defaultdict(list)
    for mail in mails:
        if mail.comment_id is not None:
            by_comment[mail.comment_id].append(mail)
    return mails, dict(by_comment)


def _initial(ticket: Ticket) -> dict[str, Any]:
    return {
        # Zendesk's habit: a reply is submitted as Open unless the agent picks otherwise.
        "status": Status.OPEN if ticket.status == Status.NEW else ticket.status,
        "priority": ticket.priority,
        "group": ticket.group_id,
        "assignee": ticket.assignee_id,
        "tags": " ".join(ticket.tags or []),
        "public": "1",
    }


def _changes(form: TicketUpdateForm) -> TicketChanges:
    data = form.cleaned_data
    group = data.get("group")
    assignee = data.get("assignee")
    return TicketChanges(
        status=data["status"],
        priority=data.get("priority") or "",
        group_id=group.pk if group else None,
        assignee_id=assignee.pk if assignee else None,
        tags=actions.normalize_tags([data.get("tags") or ""]),
        add_cc_emails=list(data.get("add_cc") or []),
        remove_cc_ids=[int(pk) for pk in data.get("remove_cc") or []],
    )


def _new_comment(form: TicketUpdateForm) -> NewComment | None:
    data = form.cleaned_data
    body = str(data.get("body") or "")
    if not body.strip():
        return None
    uploads = [
        Upload(
            filename=upload.name or "attachment",
            content_type=upload.content_type or "application/octet-stream",
            data=upload.read(),
        )
        for upload in data.get("attachments") or []
    ]
    return NewComment(body=body.replace("\r\n", "\n"), public=bool(data["public"]), uploads=uploads)


@agent_required
@require_http_methods(["GET", "POST"])
def ticket_detail(request: HttpRequest, ticket_id: int) -> HttpResponse:
    ticket = _ticket(ticket_id)
    user = request.user
    assert isinstance(user, User)
    ccs = list(ticket.ccs.order_by("email"))
    cc_choices = [(str(cc.pk), str(cc)) for cc in ccs]
    if request.method == "POST":
        form = TicketUpdateForm(request.POST, request.FILES, cc_choices=cc_choices)
        if form.is_valid():
            try:
                _ticket_after, comment = actions.update_ticket(
                    ticket.pk, user, _changes(form), _new_comment(form), via=Via.WEB
                )
            except ActionError as error:
                form.add_error(None, error.message)
            else:
                if comment is not None and comment.public:
                    messages.success(request, _("Reply sent."))
                elif comment is not None:
                    messages.success(request, _("Internal note added."))
                else:
                    messages.success(request, _("Ticket updated."))
                return redirect("ticket", ticket_id=ticket.pk)
    else:
        form = TicketUpdateForm(initial=_initial(ticket), cc_choices=cc_choices)
    comments = _comments(ticket)
    outbound_messages, outbound_by_comment = _outbound_by_comment(ticket)
    conversation = [
        {
            "comment": c,
            "body": body_html(c),
            "files": [a for a in c.attachments.all() if not a.inline],
            "outbound": outbound_by_comment.get(c.pk, []),
        }
        for c in comments
    ]
    return render(
        request,
        "web/ticket.html",
        {
            "ticket": ticket,
            "ccs": ccs,
            "conversation": conversation,
            "form": form,
            "outbound_installed": django_apps.is_installed("postdesk.outbound"),
            # Mail tied to a comment shows under it; the rest (notices) after the conversation.
            "other_outbound": [m for m in outbound_messages if m.comment_id is None],
            "closed": ticket.status == Status.CLOSED,
        },
        status=400 if request.method == "POST" else 200,
    )
