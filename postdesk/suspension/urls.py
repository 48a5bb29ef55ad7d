"""Routes of the suspended-mail queue, included at ``suspended/``, and of the Admin Center's
email authentication settings beside it (``suspended/authentication/``)."""

from django.urls import path

from postdesk.suspension import settings_views, views

app_name = "suspension"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("act", views.act, name="act"),
    path("<int:suspended_id>/", views.detail, name="detail"),
    path("authentication/", settings_views.authentication, name="authentication"),
]
