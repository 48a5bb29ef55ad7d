"""Routes of the agent UI, the account pages and the Admin Center shell."""

from django.contrib.auth import views as auth_views
from django.urls import path, register_converter, reverse_lazy

from postdesk.web import account_views, admin_views, attachments, ticket_views, views


class IdConverter:
    """A database id: at most 18 digits, so it always fits a 64-bit key (no overflow 500)."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")

urlpatterns = [
    path("login/", account_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("language/", account_views.set_language, name="set-language"),
    path("profile/", account_views.profile, name="profile"),
    path("profile/tokens/<id:token_id>/revoke/", account_views.revoke_token, name="revoke-token"),
    path(
        "profile/password/",
        auth_views.PasswordChangeView.as_view(
            template_name="registration/password_change.html",
            success_url=reverse_lazy("profile"),
        ),
        name="password-change",
    ),
    path(
        "account/set-password/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="registration/set_password.html",
            success_url=reverse_lazy("set-password-done"),
        ),
        name="set-password",
    ),
    path(
        "account/set-password/done/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="registration/set_password_done.html"
        ),
        name="set-password-done",
    ),
    path("", views.home, name="home"),
    path("tickets/<id:ticket_id>/", ticket_views.ticket_detail, name="ticket"),
    path(
        "attachments/<id:attachment_id>/<path:filename>",
        attachments.download,
        name="attachment",
    ),
    path("admin/", admin_views.admin_home, name="admin-center"),
    path("admin/groups/", admin_views.group_list, name="admin-groups"),
    path("admin/groups/new/", admin_views.group_edit, name="admin-group-new"),
    path("admin/groups/<id:group_id>/", admin_views.group_edit, name="admin-group"),
    path("admin/groups/<id:group_id>/delete/", admin_views.group_delete, name="admin-group-delete"),
    path("admin/agents/", admin_views.agent_list, name="admin-agents"),
    path("admin/agents/<id:user_id>/", admin_views.agent_edit, name="admin-agent"),
    path(
        "admin/agents/<id:user_id>/link/",
        admin_views.agent_invite_link,
        name="admin-agent-link",
    ),
]
