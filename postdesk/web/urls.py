from django.contrib.auth import views as auth_views
from django.urls import path

from postdesk.web import attachments, views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.home, name="home"),
    path("tickets/<int:ticket_id>/", views.ticket_detail, name="ticket"),
    path(
        "attachments/<int:attachment_id>/<path:filename>",
        attachments.download,
        name="attachment",
    ),
]
