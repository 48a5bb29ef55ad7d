"""The email channel pages speak Korean when the browser asks for it."""

from __future__ import annotations

import pytest
from django.test import Client

from postdesk.channels import services
from postdesk.tickets.models import Role, User

pytestmark = pytest.mark.django_db


def test_address_list_and_wizard_in_korean() -> None:
    admin = User.objects.create_user("admin@desk.test", "pw", role=Role.ADMIN)
    client = Client(HTTP_ACCEPT_LANGUAGE="ko")
    client.force_login(admin)
    listing = client.get("/admin/channels/email/").content.decode()
    assert "지원 주소" in listing and "주소 추가" in listing
    address = services.connect_external("billing@mycompany.test")
    setup = client.get(f"/admin/channels/email/addresses/{address.pk}/setup/").content.decode()
    assert "네, 설정을 마쳤습니다" in setup
