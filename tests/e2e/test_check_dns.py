"""``postdesk check-dns`` and the API's DNS verify against a real DNS server (dnsmasq).

Each test publishes a zone as a customer would (right, or with one of the mistakes SPEC F13
names), runs the live check through ``POSTDESK_DNS`` and reads what it says: the SPEC §4 JSON
object, the exit code, and the statuses the API's ``verify`` stores.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from postdesk import cli
from postdesk.channels.models import AddressKind, SupportAddress, VerificationStatus
from postdesk.outbound import dkim_keys
from postdesk.outbound.models import DkimKey
from postdesk.tickets import api_tokens
from postdesk.tickets.models import Role, User
from tests.conftest import free_port

from .servers.dns import DnsServer

pytestmark = pytest.mark.django_db

DOMAIN = "mycompany.test"
DESK_SPF = "_spf.desk.test"
GOOD_SPF = f"v=spf1 mx include:{DESK_SPF} ~all"
GOOD_DMARC = "v=DMARC1; p=reject; adkim=s; rua=mailto:dmarc@mycompany.test"


@pytest.fixture
def company(settings: Any, dns_server: DnsServer) -> SupportAddress:
    """billing@mycompany.test with a DKIM key, and POSTDESK_DNS pointing at the test server."""
    settings.POSTDESK = dataclasses.replace(
        settings.POSTDESK, dns_servers=(dns_server.address,), spf_include=DESK_SPF
    )
    hosted = SupportAddress.objects.create(email="billing@desk.test", name="Billing")
    address = SupportAddress.objects.create(
        email=f"billing@{DOMAIN}",
        name="Billing",
        kind=AddressKind.EXTERNAL,
        forwarding_target=hosted,
        forwarding_status=VerificationStatus.VERIFIED,
    )
    dkim_keys.ensure_keys(DOMAIN)
    return address


def zone(**changes: Any) -> dict[str, dict[str, list[Any]]]:
    """A correct zone for mycompany.test, with ``changes`` replacing names (None removes)."""
    [key] = dkim_keys.dns_records(DOMAIN)
    records: dict[str, Any] = {
        DOMAIN: {"TXT": [GOOD_SPF], "MX": [(10, f"mx.{DOMAIN}")]},
        f"mx.{DOMAIN}": {"A": ["127.0.0.1"]},
        DESK_SPF: {"TXT": ["v=spf1 ip4:127.0.0.1 -all"]},
        key.name: {"TXT": [key.value]},
        f"_dmarc.{DOMAIN}": {"TXT": [GOOD_DMARC]},
    }
    for name, value in changes.items():
        name = name.replace("__", ".")
        if value is None:
            records.pop(name, None)
        else:
            records[name] = value
    return records


def check_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    # --strict: the exit code then says whether all three verify (without it, 0 whenever
    # the check ran; see test_the_command_reads_postdesk_dns_and_refuses_a_bad_domain).
    code = cli.main(["check-dns", DOMAIN, "--json", "--strict", *args])
    return code, json.loads(capsys.readouterr().out)


def test_a_correct_setup_verifies_everything(
    company: SupportAddress, dns_server: DnsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    dns_server.set_records(zone())
    code, report = check_json(capsys)
    assert code == 0
    assert report == {
        "domain": DOMAIN,
        "spf": {"status": "verified", "record": GOOD_SPF, "lookups": 2, "problems": []},
        "dkim": {
            "status": "verified",
            "selectors": [{"name": "postdesk1", "status": "verified", "problems": []}],
        },
        "dmarc": {"status": "verified", "policy": "reject", "problems": []},
    }
    # Read-only without --update: nothing about signing changed.
    assert DkimKey.objects.get(domain=DOMAIN).status == VerificationStatus.UNKNOWN
    assert cli.main(["check-dns", DOMAIN.upper() + "."]) == 0
    text = capsys.readouterr().out
    assert "SPF    verified  (2 DNS lookups)" in text and "All verified." in text


def test_update_makes_signing_follow_the_dns(
    company: SupportAddress, dns_server: DnsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    dns_server.set_records(zone())
    assert check_json(capsys, "--update")[0] == 0
    key = DkimKey.objects.get(domain=DOMAIN)
    assert key.status == VerificationStatus.VERIFIED and key.active
    assert [k.selector for k in dkim_keys.signing_keys(DOMAIN)] == ["postdesk1"]
    company.refresh_from_db()
    assert (company.spf_status, company.dkim_status) == ("verified", "verified")


def test_missing_include(
    company: SupportAddress, dns_server: DnsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    dns_server.set_records(zone(**{DOMAIN: {"TXT": ["v=spf1 mx -all"]}}))
    code, report = check_json(capsys)
    assert code == 1
    assert report["spf"] == {
        "status": "failed",
        "record": "v=spf1 mx -all",
        "lookups": 1,
        "problems": [
            "The SPF record does not include _spf.desk.test: add include:_spf.desk.test before "
            "the all term, or receivers can't tell that Postdesk may send for mycompany.test"
        ],
    }
    assert report["dkim"]["status"] == report["dmarc"]["status"] == "verified"


def test_two_spf_records(
    company: SupportAddress, dns_server: DnsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    dns_server.set_records(zone(**{DOMAIN: {"TXT": [GOOD_SPF, "v=spf1 a -all", "site=1"]}}))
    code, report = check_json(capsys)
    assert code == 1
    assert report["spf"]["status"] == "failed" and report["spf"]["record"] is None
    assert report["spf"]["problems"] == [
        "More than one SPF record (2): receivers treat that as an error; merge them into one record"
    ]


def test_an_spf_chain_of_eleven_lookups(
    company: SupportAddress, dns_server: DnsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    chain = {
        DOMAIN: {"TXT": [f"v=spf1 include:{DESK_SPF} include:spf1.vendor.test -all"]},
        # One of the strings is longer than 255 bytes: resolvers join them (RFC 7208 3.3).
        "spf1.vendor.test": {"TXT": ["v=spf1 a mx include:spf2.vendor.test " + "ip4:192.0.2.1 " * 20 + "~all"]},
        "spf2.vendor.test": {"TXT": ["v=spf1 a:x.vendor.test mx:x.vendor.test exists:y.vendor.test redirect=spf3.vendor.test"]},
        "spf3.vendor.test": {"TXT": ["v=spf1 ptr a -all"]},
    }  # fmt: skip
    dns_server.set_records(zone(**chain))
    code, report = check_json(capsys)
    assert code == 1
    assert report["spf"]["lookups"] == 11
    assert report["spf"]["status"] == "failed"
    assert report["spf"]["problems"] == [
        "The SPF record needs 11 DNS lookups; receivers stop at 10 and treat the record as an "
        "error: remove includes no longer used"
    ]


def test_a_dkim_cname_pointing_elsewhere(
    company: SupportAddress, dns_server: DnsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"postdesk1._domainkey.{DOMAIN}"
    other_key = "v=DKIM1; k=rsa; p=" + base64.b64encode(b"someone else's key").decode()
    dns_server.set_records(
        zone(
            **{
                name: {"CNAME": ["s1.esp.test"]},
                "s1.esp.test": {"TXT": [other_key]},
            }
        )
    )
    code, report = check_json(capsys, "--update")
    assert code == 1
    [selector] = report["dkim"]["selectors"]
    assert selector["status"] == "failed"
    assert selector["problems"][0].startswith(
        f"{name} is a CNAME pointing to s1.esp.test, which does not publish Postdesk's key"
    )
    # p=reject while DKIM fails: the desk's mail would be rejected, and the check says so.
    assert report["dmarc"]["status"] == "failed"
    assert "receivers will reject mail Postdesk sends" in report["dmarc"]["problems"][0]
    key = DkimKey.objects.get(domain=DOMAIN)
    assert key.status == VerificationStatus.FAILED and "CNAME" in key.failure_reason
    assert dkim_keys.signing_keys(DOMAIN) == []


def test_a_dkim_cname_to_our_key_verifies(
    company: SupportAddress, dns_server: DnsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    [key] = dkim_keys.dns_records(DOMAIN)
    dns_server.set_records(
        zone(**{key.name: {"CNAME": ["k1.keys.test"]}, "k1.keys.test": {"TXT": [key.value]}})
    )
    assert check_json(capsys)[1]["dkim"]["status"] == "verified"


def test_no_dmarc_record(
    company: SupportAddress, dns_server: DnsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    dns_server.set_records(zone(**{f"_dmarc.{DOMAIN}": None}))
    code, report = check_json(capsys)
    assert code == 1
    assert report["dmarc"] == {
        "status": "failed",
        "policy": None,
        "problems": [
            "No DMARC record: publish a TXT record at _dmarc.mycompany.test such as "
            "“v=DMARC1; p=none; rua=mailto:dmarc@mycompany.test”"
        ],
    }


def test_an_unreachable_dns_server_is_unknown_never_a_crash(
    company: SupportAddress, settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = f"127.0.0.1:{free_port()}"
    settings.POSTDESK = dataclasses.replace(settings.POSTDESK, dns_servers=(closed,))
    code, report = check_json(capsys, "--update")
    assert code == 1
    for part in ("spf", "dmarc"):
        assert report[part]["status"] == "unknown"
        assert report[part]["problems"][0].startswith("Could not look up TXT")
    assert report["dkim"]["status"] == "unknown"
    assert report["dkim"]["selectors"][0]["problems"][0].startswith("Could not look up CNAME")
    # An outage changes nothing stored.
    assert DkimKey.objects.get(domain=DOMAIN).status == VerificationStatus.UNKNOWN
    company.refresh_from_db()
    assert company.spf_status == VerificationStatus.UNKNOWN


def test_a_domain_without_keys_is_unknown_and_no_key_is_created(
    company: SupportAddress, dns_server: DnsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    dns_server.set_records(zone(**{"other.test": {"TXT": [f"v=spf1 include:{DESK_SPF}"]}}))
    code = cli.main(["check-dns", "other.test", "--json", "--strict"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert report["dkim"]["status"] == "unknown"
    assert "no DKIM key for other.test" in report["dkim"]["selectors"][0]["problems"][0]
    assert not DkimKey.objects.filter(domain="other.test").exists()


def test_api_verify_runs_the_check_and_stores_the_statuses(
    company: SupportAddress, dns_server: DnsServer
) -> None:
    admin = User.objects.create_user("admin@desk.test", password="admin-pass-1", role=Role.ADMIN)
    token = api_tokens.create(admin, "test")
    auth = base64.b64encode(f"{admin.email}/token:{token}".encode()).decode()
    api = Client(HTTP_AUTHORIZATION=f"Basic {auth}")
    url = f"/api/v2/recipient_addresses/{company.pk}/verify"

    def verify(kind: str) -> dict[str, Any]:
        response = api.put(url, json.dumps({"type": kind}), content_type="application/json")
        assert response.status_code == 200
        return dict(response.json()["recipient_address"])

    dns_server.set_records(zone(**{DOMAIN: {"TXT": ["v=spf1 -all"]}}))
    spf_only = verify("spf")
    assert (spf_only["spf_status"], spf_only["cname_status"]) == ("failed", "unknown")
    assert DkimKey.objects.get(domain=DOMAIN).status == VerificationStatus.UNKNOWN

    dns_server.set_records(zone())
    fixed = verify("dns")
    assert (fixed["spf_status"], fixed["cname_status"], fixed["dns_results"]) == (
        "verified",
        "verified",
        "verified",
    )
    assert [k.selector for k in dkim_keys.signing_keys(DOMAIN)] == ["postdesk1"]

    [key] = dkim_keys.dns_records(DOMAIN)
    dns_server.set_records(zone(**{key.name: None}))
    removed = verify("dns")
    assert (removed["spf_status"], removed["cname_status"]) == ("verified", "failed")
    assert dkim_keys.signing_keys(DOMAIN) == []


def test_the_command_reads_postdesk_dns_and_refuses_a_bad_domain(
    dns_server: DnsServer, tmp_path: Path
) -> None:
    dns_server.set_records({"plain.test": {"TXT": ["v=spf1 -all"]}})
    env = {
        **os.environ,
        "POSTDESK_DATA_DIR": str(tmp_path),
        "POSTDESK_MAIL_DOMAIN": "desk.test",
        "POSTDESK_DNS": dns_server.address,
        "DJANGO_SETTINGS_MODULE": "postdesk.settings",
    }
    env.pop("POSTDESK_DATABASE_URL", None)
    command = [sys.executable, "-m", "postdesk.cli"]
    subprocess.run([*command, "migrate", "-v", "0"], env=env, check=True, timeout=120)
    done = subprocess.run(
        [*command, "check-dns", "plain.test", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr  # a report, even of a failing domain
    report = json.loads(done.stdout)
    strict = subprocess.run(
        [*command, "check-dns", "plain.test", "--json", "--strict"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert strict.returncode == 1, strict.stderr
    assert json.loads(strict.stdout) == report
    assert set(report) == {"domain", "spf", "dkim", "dmarc"}
    assert report["spf"]["record"] == "v=spf1 -all"
    assert "does not include _spf.desk.test" in report["spf"]["problems"][0]
    assert report["dmarc"]["problems"][0].startswith("No DMARC record")
    for bad in ("not a domain", "billing@mycompany.test", "bad_name.test"):
        refused = subprocess.run(
            [*command, "check-dns", bad], env=env, capture_output=True, text=True, timeout=60
        )
        assert refused.returncode == 2, bad
        assert refused.stdout == "" and "postdesk:" in refused.stderr
