"""SPF: parsing, lookup counting through includes and redirects, and the problems' words."""

from __future__ import annotations

import pytest

from postdesk.dns.spf import MAX_LOOKUPS, SpfSyntaxError, check_spf, is_spf, parse

from .table import TableLookup

DESK = "_spf.desk.test"
DESK_RECORD = {DESK: {"TXT": ["v=spf1 ip4:192.0.2.0/24 -all"]}}


def check(records: dict, domain: str = "mycompany.test", failing: tuple[str, ...] = ()):
    return check_spf(domain, DESK, TableLookup({**DESK_RECORD, **records}, failing))


def test_one_record_with_our_include_verifies_and_counts_its_lookups() -> None:
    result = check({"mycompany.test": {"TXT": ["v=spf1 mx include:_spf.desk.test ~all"]}})
    assert result.status == "verified"
    assert result.record == "v=spf1 mx include:_spf.desk.test ~all"
    assert result.lookups == 2
    assert result.problems == []


def test_other_txt_records_are_not_spf() -> None:
    result = check(
        {
            "mycompany.test": {
                "TXT": [
                    "google-site-verification=abc",
                    "v=spf10 x",
                    "v=spf1 include:_SPF.desk.test.",
                ]
            }
        }
    )
    assert result.status == "verified"


def test_no_record_says_what_to_publish() -> None:
    result = check({"mycompany.test": {"TXT": ["hello"]}})
    assert result.status == "failed" and result.record is None
    assert result.problems == [
        "No SPF record: publish a TXT record at mycompany.test: v=spf1 include:_spf.desk.test ~all"
    ]


def test_two_records_are_an_error() -> None:
    result = check({"mycompany.test": {"TXT": ["v=spf1 -all", "v=spf1 include:_spf.desk.test"]}})
    assert result.status == "failed"
    assert "More than one SPF record (2)" in result.problems[0]


def test_missing_include_is_named() -> None:
    result = check({"mycompany.test": {"TXT": ["v=spf1 mx -all"]}})
    assert result.status == "failed" and result.lookups == 1
    assert result.problems == [
        "The SPF record does not include _spf.desk.test: add include:_spf.desk.test before the "
        "all term, or receivers can't tell that Postdesk may send for mycompany.test"
    ]


def test_our_include_found_through_nested_include_and_redirect() -> None:
    nested = check(
        {
            "mycompany.test": {"TXT": ["v=spf1 include:spf.mycompany.test -all"]},
            "spf.mycompany.test": {"TXT": ["v=spf1 include:_spf.desk.test ?all"]},
        }
    )
    assert nested.status == "verified" and nested.lookups == 2
    redirected = check(
        {
            "mycompany.test": {"TXT": ["v=spf1 redirect=spf.mycompany.test"]},
            "spf.mycompany.test": {"TXT": ["v=spf1 a include:_spf.desk.test -all"]},
        }
    )
    assert redirected.status == "verified" and redirected.lookups == 3


def test_redirect_is_ignored_beside_all() -> None:
    # RFC 7208 6.1: with an "all" the redirect never happens, so it is neither counted nor ours.
    result = check({"mycompany.test": {"TXT": ["v=spf1 -all redirect=_spf.desk.test"]}})
    assert result.lookups == 0
    assert result.status == "failed"


def test_eleven_lookups_through_nested_includes_fail() -> None:
    records = {
        "mycompany.test": {"TXT": ["v=spf1 include:_spf.desk.test include:a.vendor.test -all"]},
        "a.vendor.test": {"TXT": ["v=spf1 a mx ptr exists:x.vendor.test include:b.vendor.test"]},
        "b.vendor.test": {"TXT": ["v=spf1 a mx a:c.vendor.test mx:c.vendor.test -all"]},
    }
    result = check(records)
    assert result.lookups == 11 > MAX_LOOKUPS
    assert result.status == "failed"
    assert result.problems == [
        "The SPF record needs 11 DNS lookups; receivers stop at 10 and treat the record as an "
        "error: remove includes no longer used"
    ]


def test_ten_lookups_are_still_fine() -> None:
    record = "v=spf1 include:_spf.desk.test " + "a:h.test " * 9 + "ip4:192.0.2.1 -all"
    assert check({"mycompany.test": {"TXT": [record]}}).status == "verified"


def test_include_without_a_record_and_include_loops_are_problems() -> None:
    result = check(
        {
            "mycompany.test": {
                "TXT": ["v=spf1 include:_spf.desk.test include:gone.test include:loop.test -all"]
            },
            "loop.test": {"TXT": ["v=spf1 include:mycompany.test"]},
        }
    )
    assert result.status == "failed"
    assert any("include:gone.test has no single SPF record" in p for p in result.problems)
    assert any("include:mycompany.test leads back to itself" in p for p in result.problems)


def test_macro_domains_are_counted_not_followed() -> None:
    lookup = TableLookup(
        {**DESK_RECORD, "m.test": {"TXT": ["v=spf1 exists:%{i}.rbl.test include:_spf.desk.test"]}}
    )
    result = check_spf("m.test", DESK, lookup)
    assert result.status == "verified" and result.lookups == 2
    assert not any("%" in name for name, _ in lookup.asked)


def test_a_failing_lookup_is_unknown_never_failed() -> None:
    result = check({}, failing=("mycompany.test",))
    assert result.status == "unknown"
    assert result.problems == ["Could not look up TXT mycompany.test: no answer in time"]
    nested = check(
        {"mycompany.test": {"TXT": ["v=spf1 include:slow.test include:_spf.desk.test"]}},
        failing=("slow.test",),
    )
    assert nested.status == "unknown"


@pytest.mark.parametrize(
    ("record", "words"),
    [
        ("v=spf1 include", "needs a domain or address"),
        ("v=spf1 include:", "needs a domain or address"),
        ("v=spf1 bogus:x.test", "not a known SPF mechanism"),
        ("v=spf1 ip4:300.1.1.1", "not a valid address"),
        ("v=spf1 ip4:2001:db8::1", "not a valid address"),
        ("v=spf1 ip6:192.0.2.1", "not a valid address"),
        ("v=spf1 all:x.test", "all takes no argument"),
        ("v=spf1 redirect=a.test redirect=b.test", "redirect= appears more than once"),
        ("v=spf1 exp=", "exp= needs a domain"),
        ("v=spf1 include:x.test/24", "can't have a prefix length"),
    ],
)
def test_syntax_errors_say_which_term(record: str, words: str) -> None:
    with pytest.raises(SpfSyntaxError, match=words):
        parse(record)
    result = check({"mycompany.test": {"TXT": [record]}})
    assert result.status == "failed" and result.record == record
    assert result.problems[0].startswith("The SPF record can't be parsed: ")


def test_valid_terms_parse() -> None:
    terms = parse(
        "v=spf1 +a -mx/24 ~a:h.test/24//64 ?ptr ip4:192.0.2.0/24 ip6:2001:db8::/32 "
        "exists:%{ir}.x.test include:y.test unknown-mod=z -all"
    )
    assert [t.name for t in terms] == [
        "a", "mx", "a", "ptr", "ip4", "ip6", "exists", "include", "unknown-mod", "all",
    ]  # fmt: skip
    assert terms[-2].modifier


def test_is_spf_needs_the_exact_version() -> None:
    assert is_spf("v=spf1") and is_spf("V=SPF1 -all")
    assert not is_spf("v=spf10") and not is_spf("spf1") and not is_spf(" v=spf1")
