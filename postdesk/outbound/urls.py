from django.urls import path

from postdesk.outbound import admin_views, views

urlpatterns = [
    path("outbox/", views.outbox, name="outbox"),
    path("outbox/<int:outbound_id>/", views.outbound_detail, name="outbound-detail"),
    path("admin/notifications/", admin_views.template_list, name="notification-templates"),
    path(
        "admin/notifications/<str:name>/<str:language>/",
        admin_views.template_edit,
        name="notification-template",
    ),
    path("admin/dkim/", admin_views.dkim_list, name="dkim-keys"),
    path("admin/dkim/generate/", admin_views.dkim_generate, name="dkim-generate"),
    path("admin/dkim/check/", admin_views.dns_check, name="dns-check"),
]
