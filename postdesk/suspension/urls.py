"""Routes of the suspended-mail queue, included at ``suspended/``."""

from django.urls import path

from postdesk.suspension import views

app_name = "suspension"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("act", views.act, name="act"),
    path("<int:suspended_id>/", views.detail, name="detail"),
]
