from django.urls import path

from postdesk.outbound import views

urlpatterns = [
    path("outbox/", views.outbox, name="outbox"),
    path("outbox/<int:outbound_id>/", views.outbound_detail, name="outbound-detail"),
]
