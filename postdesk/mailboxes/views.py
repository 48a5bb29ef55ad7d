"""Admin Center → Channels → Email → Mailboxes (SPEC F15, F17): connect an IMAP mailbox, see
how its polls go, check it now, disable, enable or remove it.

Connecting is ``setup.add_mailbox``, what ``postdesk mailbox add`` runs: it logs in and opens
the folder before anything is saved, so a refused connection leaves no trace but the error on
the form. "Check now" is ``poll.poll_mailbox``, the minute poll's own import, run while the
admin waits. Disabling only flips ``enabled``: the minute poll skips the mailbox and its IDLE
watcher stops at the next reconcile. Removing deletes the mailbox alone; its support address
and its tickets stay. Admins only; every change is a CSRF-protected POST.
"""

from __future__ import annotations

import logging

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from postdesk.mailboxes.connect import ConnectError, Credentials
from postdesk.mailboxes.forms import MailboxForm
from postdesk.mailboxes.models import Mailbox, SecretKind
from postdesk.mailboxes.poll import poll_mailbox
from postdesk.mailboxes.setup import SetupError, add_mailbox
from postdesk.web.access import admin_required

logger = logging.getLogger(__name__)


def _mailbox(mailbox_id: int) -> Mailbox:
    return get_object_or_404(Mailbox.objects.select_related("address"), pk=mailbox_id)


@admin_required
@require_http_methods(["GET"])
def mailbox_list(request: HttpRequest) -> HttpResponse:
    mailboxes = Mailbox.objects.select_related("address")
    return render(request, "mailboxes/mailbox_list.html", {"mailboxes": mailboxes})


@admin_required
@require_http_methods(["GET", "POST"])
def mailbox_add(request: HttpRequest) -> HttpResponse:
    form = MailboxForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            added = add_mailbox(
                form.server(),
                Credentials(SecretKind.PASSWORD, data["password"]),
                email=data["email"],
                import_last=data["import_last"],
            )
        except (ConnectError, SetupError) as exc:
            # The server's or setup's own words (they never contain the secret); nothing
            # was saved.
            form.add_error(
                None, _("The mailbox could not be connected: %(error)s") % {"error": exc}
            )
        else:
            mailbox = added.mailbox
            logger.info("mailbox %s connected from the Admin Center", mailbox.pk)
            messages.success(
                request,
                _("%(email)s is connected: its new unread mail becomes tickets.")
                % {"email": mailbox.address.email},
            )
            if added.import_error:
                messages.warning(
                    request,
                    _(
                        "Importing the latest messages failed: %(error)s. New mail is "
                        "imported all the same."
                    )
                    % {"error": added.import_error},
                )
            elif data["import_last"]:
                messages.info(
                    request,
                    ngettext(
                        "%(count)d earlier message imported.",
                        "%(count)d earlier messages imported.",
                        added.imported,
                    )
                    % {"count": added.imported},
                )
            return redirect("mailboxes:list")
    return render(request, "mailboxes/mailbox_add.html", {"form": form})


@admin_required
@require_POST
def mailbox_check(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = _mailbox(mailbox_id)
    before = mailbox.last_polled_at
    imported = poll_mailbox(mailbox)
    mailbox.refresh_from_db(fields=["last_polled_at", "last_error"])
    email = mailbox.address.email
    if mailbox.last_error:
        messages.error(
            request,
            _("Checking %(email)s failed: %(error)s")
            % {"email": email, "error": mailbox.last_error},
        )
    elif mailbox.last_polled_at == before:
        # poll_mailbox returns without polling while another process holds the mailbox's
        # lease; that process is importing the mail right now.
        messages.info(
            request,
            _("%(email)s is being checked by another process right now. Try again in a minute.")
            % {"email": email},
        )
    else:
        messages.success(
            request,
            ngettext(
                "%(email)s checked: %(count)d new mail imported.",
                "%(email)s checked: %(count)d new mails imported.",
                imported,
            )
            % {"email": email, "count": imported},
        )
    return redirect("mailboxes:list")


@admin_required
@require_POST
def mailbox_enable(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    return _set_enabled(request, _mailbox(mailbox_id), enabled=True)


@admin_required
@require_POST
def mailbox_disable(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    return _set_enabled(request, _mailbox(mailbox_id), enabled=False)


def _set_enabled(request: HttpRequest, mailbox: Mailbox, *, enabled: bool) -> HttpResponse:
    # Only this column: a poll running meanwhile writes last_uid and last_error.
    Mailbox.objects.filter(pk=mailbox.pk).update(enabled=enabled, updated_at=timezone.now())
    email = mailbox.address.email
    if enabled:
        messages.success(request, _("%(email)s is enabled again.") % {"email": email})
    else:
        messages.success(
            request,
            _("%(email)s is disabled: Postdesk no longer reads it.") % {"email": email},
        )
    return redirect("mailboxes:list")


@admin_required
@require_http_methods(["GET", "POST"])
def mailbox_remove(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = _mailbox(mailbox_id)
    if request.method == "POST":
        email = mailbox.address.email
        # The support address and its tickets stay: only the connection goes.
        mailbox.delete()
        logger.info("mailbox %s removed from the Admin Center", mailbox_id)
        messages.success(
            request,
            _("The mailbox of %(email)s was removed. The support address and its tickets stay.")
            % {"email": email},
        )
        return redirect("mailboxes:list")
    return render(request, "mailboxes/mailbox_remove.html", {"mailbox": mailbox})
