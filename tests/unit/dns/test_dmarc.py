"""DMARC: the record at _dmarc, its policy, and a policy that rejects the desk's mail."""

from __future__ import annotations

import pytest

from postdesk.dns.dmarc import check_dmarc, parse

from .table import TableLookup

NAME = "_dmarc.mycompany.test"


def check(records: list[str], *, dkim_verified: bool = True, failing: tuple[str, ...] = ()):
    return check_dmarc(
        "mycompany.test",
        TableLookup({NAME: {"TXT": records}}, failing),
        dkim_verified=dkim_verified,
    )


@pytest.mark.parametrize("policy", ["none", "quarantine", "reject"])
def test_a_valid_record_verifies_with_dkim(policy: str) -> None:
    result = check([f"v=DMARC1; p={policy}; rua=mailto:d@mycompany.test", "other"])
    assert (result.status, result.policy, result.problems) == ("verified", policy, [])


def test_missing_record_advises_p_none() -> None:
    result = check([])
    assert result.status == "failed" and result.policy is None
    assert result.problems == [
        "No DMARC record: publish a TXT record at _dmarc.mycompany.test such as "
        "“v=DMARC1; p=none; rua=mailto:dmarc@mycompany.test”"
    ]


def test_two_records_and_unparseable_records() -> None:
    assert (
        "More than one DMARC record"
        in check(["v=DMARC1; p=none", "v=DMARC1; p=reject"]).problems[0]
    )
    for bad in ("v=DMARC1", "v=DMARC1; p=block", "v=DMARC1; nonsense", "v=dmarc1; p=none"):
        result = check([bad])
        assert result.status == "failed", bad
        assert "can't be parsed" in result.problems[0]


def test_none_policy_is_fine_before_dkim_verifies() -> None:
    assert check(["v=DMARC1; p=none"], dkim_verified=False).status == "verified"


def test_enforcing_policy_without_dkim_explains_the_rejection() -> None:
    result = check(["v=DMARC1; p=reject; aspf=s; adkim=s"], dkim_verified=False)
    assert (result.status, result.policy) == ("failed", "reject")
    assert result.problems == [
        "DMARC policy p=reject: receivers will reject mail Postdesk sends for this domain until "
        "its DKIM record verifies, as only the DKIM signature aligns. With aspf=s, SPF can't "
        "align either."
    ]
    quarantine = check(["v=DMARC1; p=quarantine"], dkim_verified=False)
    assert "will quarantine mail" in quarantine.problems[0]


def test_a_failing_lookup_is_unknown() -> None:
    result = check([], failing=(NAME,))
    assert result.status == "unknown" and "Could not look up TXT _dmarc" in result.problems[0]


def test_parse() -> None:
    assert parse("v=DMARC1; p=none; pct=50") == {"v": "DMARC1", "p": "none", "pct": "50"}
    assert parse("p=none; v=DMARC1") == {"p": "none", "v": "DMARC1"}
