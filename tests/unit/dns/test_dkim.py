"""DKIM: each selector's record compared with the key Postdesk holds, and the overall rule."""

from __future__ import annotations

from postdesk.dns.dkim import ExpectedKey, check_dkim, parse_tags

from .table import TableLookup

KEY = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwholekey"
NEW_KEY = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnewkey"
RSA1 = ExpectedKey("postdesk1", "rsa-sha256", KEY)
RSA2 = ExpectedKey("postdesk2", "rsa-sha256", NEW_KEY)
NAME1 = "postdesk1._domainkey.mycompany.test"
NAME2 = "postdesk2._domainkey.mycompany.test"


def check(records: dict, keys=(RSA1,), failing: tuple[str, ...] = ()):
    return check_dkim(
        "mycompany.test", list(keys), TableLookup(records, failing), default_selector="postdesk1"
    )


def names(result) -> list[tuple[str, str, list[str]]]:
    return [(s.name, s.status, s.problems) for s in result.selectors]


def test_the_published_txt_record_verifies() -> None:
    result = check({NAME1: {"TXT": [f"v=DKIM1; k=rsa; p={KEY}"]}})
    assert result.status == "verified"
    assert names(result) == [("postdesk1", "verified", [])]


def test_a_key_folded_with_spaces_still_matches() -> None:
    folded = f"v=DKIM1;k=rsa; p={KEY[:20]} {KEY[20:]} ;"
    assert check({NAME1: {"TXT": [folded]}}).status == "verified"


def test_a_cname_to_a_name_with_our_key_verifies() -> None:
    records = {
        NAME1: {"CNAME": ["postdesk1.keys.desk.test"]},
        "postdesk1.keys.desk.test": {"TXT": [f"v=DKIM1; k=rsa; p={KEY}"]},
    }
    assert check(records).status == "verified"


def test_a_cname_pointing_elsewhere_is_named() -> None:
    records = {
        NAME1: {"CNAME": ["s1.other-esp.test"]},
        "s1.other-esp.test": {"TXT": [f"v=DKIM1; k=rsa; p={NEW_KEY}"]},
    }
    result = check(records)
    assert result.status == "failed"
    [(_, _, [problem])] = names(result)
    assert problem.startswith(
        f"{NAME1} is a CNAME pointing to s1.other-esp.test, which does not publish Postdesk's key"
    )
    dangling = check({NAME1: {"CNAME": ["nowhere.test"]}})
    assert names(dangling)[0][2] == [
        f"{NAME1} is a CNAME pointing to nowhere.test, which does not publish Postdesk's key"
    ]


def test_missing_differing_revoked_and_foreign_records() -> None:
    assert names(check({}))[0][2] == [
        f"No DKIM record at {NAME1}: publish the TXT record shown in the Admin Center"
    ]
    differs = check({NAME1: {"TXT": [f"v=DKIM1; k=rsa; p={NEW_KEY}"]}})
    assert "differs from Postdesk's key for selector postdesk1" in names(differs)[0][2][0]
    revoked = check({NAME1: {"TXT": ["v=DKIM1; p="]}})
    assert names(revoked)[0][2] == [f"The key at {NAME1} is revoked (empty p=)"]
    for foreign in ("hello world", "v=spf1 -all", "v=DKIM2; p=abc", "k=rsa; k=rsa; p=x"):
        result = check({NAME1: {"TXT": [foreign]}})
        assert names(result)[0][2] == [f"{NAME1} holds a TXT record that is not a DKIM key record"]
    two = check({NAME1: {"TXT": [f"v=DKIM1; p={KEY}", "v=DKIM1; p=other"]}})
    assert "More than one TXT record" in names(two)[0][2][0]


def test_rotation_verified_when_either_rsa_selector_verifies() -> None:
    # The old key still signs while the new record is not yet published.
    result = check({NAME1: {"TXT": [f"v=DKIM1; p={KEY}"]}}, keys=(RSA1, RSA2))
    assert result.status == "verified"
    assert [(n, s) for n, s, _ in names(result)] == [
        ("postdesk1", "verified"),
        ("postdesk2", "failed"),
    ]


def test_an_ed25519_key_alone_does_not_make_dkim_verified() -> None:
    ed = ExpectedKey("postdesk1-ed25519", "ed25519-sha256", "edkey")
    records = {
        "postdesk1-ed25519._domainkey.mycompany.test": {"TXT": ["v=DKIM1; k=ed25519; p=edkey"]}
    }
    assert check(records, keys=(RSA1, ed)).status == "failed"


def test_no_key_is_unknown_and_says_so() -> None:
    result = check({}, keys=())
    assert result.status == "unknown"
    assert names(result) == [
        (
            "postdesk1",
            "unknown",
            [
                "Postdesk has no DKIM key for mycompany.test yet: generate one on the Admin "
                "Center's DKIM keys page, then publish its record"
            ],
        )
    ]


def test_a_failing_lookup_is_unknown() -> None:
    result = check({}, failing=(NAME1,))
    assert result.status == "unknown"
    assert names(result)[0][1:] == (
        "unknown",
        [f"Could not look up CNAME {NAME1}: no answer in time"],
    )


def test_parse_tags() -> None:
    assert parse_tags("v=DKIM1; k=rsa; p=abc;") == {"v": "DKIM1", "k": "rsa", "p": "abc"}
    assert parse_tags("nonsense") is None


def test_a_cname_loop_is_one_question_each_and_a_failure() -> None:
    # The check follows one CNAME itself; a resolver gives up on longer chains (a loop
    # included) with an error, which is a failed lookup, not a hang.
    lookup = TableLookup({NAME1: {"CNAME": [NAME1]}})
    result = check_dkim("mycompany.test", [RSA1], lookup, default_selector="postdesk1")
    assert result.status == "failed"
    assert lookup.asked == [(NAME1, "CNAME"), (NAME1, "TXT")]
