"""Routes of Admin Center → Channels → Email → Mailboxes, included at
``admin/channels/email/mailboxes/``."""

from django.urls import path

from postdesk.mailboxes import views

app_name = "mailboxes"

urlpatterns = [
    path("", views.mailbox_list, name="list"),
    path("add/", views.mailbox_add, name="add"),
    path("<int:mailbox_id>/check", views.mailbox_check, name="check"),
    path("<int:mailbox_id>/enable", views.mailbox_enable, name="enable"),
    path("<int:mailbox_id>/disable", views.mailbox_disable, name="disable"),
    path("<int:mailbox_id>/remove/", views.mailbox_remove, name="remove"),
]
