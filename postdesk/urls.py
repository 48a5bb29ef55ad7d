"""URL routes: the web UI, ``/inbound/mime`` and the health endpoint."""

from django.urls import include, path

from postdesk.transports.http import inbound_mime
from postdesk.web import views

urlpatterns = [
    path("inbound/mime", inbound_mime, name="inbound-mime"),
    path("health", views.health, name="health"),
    path("", include("postdesk.web.urls")),
]
