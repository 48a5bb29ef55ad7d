"""URL routes: the web UI, ``/api/v2``, ``/inbound/mime`` and the health endpoint."""

from django.urls import include, path

from postdesk.api.app import urls as api_urls
from postdesk.metrics import metrics
from postdesk.transports.http import inbound_mime
from postdesk.web import views

urlpatterns = [
    path("inbound/mime", inbound_mime, name="inbound-mime"),
    path("health", views.health, name="health"),
    path("metrics", metrics, name="metrics"),
    path("api/v2/", api_urls()),
    path("suspended/", include("postdesk.suspension.urls")),
    path("admin/channels/email/mailboxes/", include("postdesk.mailboxes.urls")),
    path("admin/channels/email/", include("postdesk.channels.urls")),
    path("", include("postdesk.outbound.urls")),
    path("", include("postdesk.web.urls")),
]
