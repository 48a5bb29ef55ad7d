"""The rules of SPEC F1 on support addresses, and the wildcard setting."""

from __future__ import annotations

import pytest

from postdesk.channels import services
from postdesk.channels.addresses import accepts_recipient, ensure_system_address, set_wildcard
from postdesk.channels.models import AddressKind, SupportAddress, VerificationStatus
from postdesk.channels.services import AddressError

pytestmark = pytest.mark.django_db


def test_external_address_gets_a_hosted_target_derived_from_its_local_part() -> None:
    address = services.connect_external("Billing.Team@MyCompany.test", name="Billing")
    assert address.email == "billing.team@mycompany.test"
    assert address.kind == AddressKind.EXTERNAL
    assert address.forwarding_status == VerificationStatus.UNKNOWN
    assert address.forwarding_target is not None
    assert address.forwarding_target.email == "billing.team@desk.test"
    assert address.forwarding_target.kind == AddressKind.HOSTED
    assert not address.may_send


def test_derived_target_taken_by_another_forwarding_gets_a_number() -> None:
    services.connect_external("billing@mycompany.test")
    second = services.connect_external("billing@othercompany.test")
    assert second.forwarding_target is not None
    assert second.forwarding_target.email == "billing-2@desk.test"


def test_an_unused_hosted_address_is_reused_as_target() -> None:
    hosted = services.create_hosted("sales")
    address = services.connect_external("sales@mycompany.test")
    assert address.forwarding_target == hosted


@pytest.mark.parametrize(
    ("email", "code"),
    [
        ("not an address", "InvalidValue"),
        ("", "BlankValue"),
        ("help@desk.test", "InvalidValue"),  # external at the desk domain
        ("a@b@c.test", "InvalidValue"),
    ],
)
def test_bad_external_addresses_are_refused_and_nothing_is_created(email: str, code: str) -> None:
    before = SupportAddress.objects.count()
    with pytest.raises(AddressError) as caught:
        services.connect_external(email)
    assert caught.value.field == "email"
    assert caught.value.code == code
    assert SupportAddress.objects.count() == before


def test_duplicate_address_is_refused_without_a_stray_target() -> None:
    services.connect_external("billing@mycompany.test")
    before = SupportAddress.objects.count()
    with pytest.raises(AddressError) as caught:
        services.connect_external("BILLING@mycompany.test")
    assert caught.value.code == "DuplicateValue"
    assert SupportAddress.objects.count() == before


def test_hosted_addresses_live_at_the_desk_domain() -> None:
    assert services.create_hosted("orders").email == "orders@desk.test"
    with pytest.raises(AddressError):
        services.create_hosted("orders@elsewhere.test")


def test_email_cannot_change_but_name_can() -> None:
    address = services.create_hosted("orders", name="Orders")
    with pytest.raises(AddressError) as caught:
        services.update_address(address, email="other@desk.test")
    assert caught.value.field == "email"
    services.update_address(address, email="ORDERS@desk.test", name="Order desk")
    address.refresh_from_db()
    assert (address.email, address.name) == ("orders@desk.test", "Order desk")


def test_system_and_default_addresses_cannot_be_deleted() -> None:
    system = ensure_system_address()
    assert system.default
    with pytest.raises(AddressError, match="system address"):
        services.delete_address(system)
    other = services.create_hosted("orders")
    services.make_default(other)
    with pytest.raises(AddressError, match="default"):
        services.delete_address(other)
    services.make_default(system)
    services.delete_address(other)
    assert not SupportAddress.objects.filter(email="orders@desk.test").exists()


def test_a_target_that_is_still_forwarded_to_cannot_be_deleted() -> None:
    external = services.connect_external("billing@mycompany.test")
    assert external.forwarding_target is not None
    with pytest.raises(AddressError, match=r"billing@mycompany\.test"):
        services.delete_address(external.forwarding_target)
    services.delete_address(external)
    services.delete_address(external.forwarding_target)


def test_only_hosted_or_verified_addresses_become_default() -> None:
    external = services.connect_external("billing@mycompany.test")
    with pytest.raises(AddressError):
        services.make_default(external)
    SupportAddress.objects.filter(pk=external.pk).update(
        forwarding_status=VerificationStatus.VERIFIED
    )
    external.refresh_from_db()
    services.make_default(external)
    assert list(SupportAddress.objects.filter(default=True)) == [external]


def test_wildcard_setting_decides_unregistered_desk_addresses() -> None:
    services.create_hosted("orders")
    assert accepts_recipient("anything@desk.test")
    set_wildcard(False)
    assert not accepts_recipient("anything@desk.test")
    assert accepts_recipient("orders@desk.test")
    assert accepts_recipient("orders+2226-k9qx4t@desk.test")
    assert accepts_recipient("bounces+12-abc@desk.test")
    assert not accepts_recipient("someone@elsewhere.test")
    set_wildcard(True)
    assert accepts_recipient("anything@desk.test")


def test_registered_external_addresses_are_accepted_others_refused() -> None:
    services.connect_external("billing@mycompany.test")
    assert accepts_recipient("billing@mycompany.test")
    assert not accepts_recipient("other@mycompany.test")
