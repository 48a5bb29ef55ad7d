"""Routes of Admin Center → Channels → Email, included at ``admin/channels/email/``."""

from django.urls import path

from postdesk.channels import inbound_views, views

app_name = "channels"

urlpatterns = [
    path("", views.address_list, name="addresses"),
    path("wildcard", views.wildcard, name="wildcard"),
    path("add/", views.add_address, name="add"),
    path("add/hosted/", views.add_hosted, name="add-hosted"),
    path("add/external/", views.add_external, name="add-external"),
    path("add/external/forwarding/", views.add_forwarding, name="add-forwarding"),
    path("addresses/<int:address_id>/", views.address_detail, name="address"),
    path("addresses/<int:address_id>/setup/", views.setup, name="setup"),
    path("addresses/<int:address_id>/setup/verify/", views.verify_step, name="verify-step"),
    path("addresses/<int:address_id>/verify", views.verify, name="verify"),
    path("addresses/<int:address_id>/edit", views.address_edit, name="edit"),
    path("addresses/<int:address_id>/default", views.make_default, name="default"),
    path("addresses/<int:address_id>/delete/", views.delete, name="delete"),
    path("notices/<int:event_id>/dismiss", views.dismiss_notice, name="dismiss"),
    path("routing/", views.routing, name="routing"),
    path("routing/<int:rule_id>/", views.routing_rule, name="routing-rule"),
    path("routing/<int:rule_id>/delete", views.routing_rule_delete, name="routing-delete"),
    path("inbound/", inbound_views.inbound_list, name="inbound"),
    path("inbound/<int:message_id>/", inbound_views.inbound_detail, name="inbound-detail"),
]
