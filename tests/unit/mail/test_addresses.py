"""Address-list parsing as real clients write it, and address normalising."""

from __future__ import annotations

from postdesk.mail.addresses import (
    Address,
    extract_message_ids,
    normalize_email,
    parse_address_list,
    parse_first_address,
)


def pairs(raw: str) -> list[tuple[str, str]]:
    return [(address.name, address.email) for address in parse_address_list(raw)]


def test_common_forms() -> None:
    assert pairs('"Doe, Jane" <jane@example.com>, bob@example.com') == [
        ("Doe, Jane", "jane@example.com"),
        ("", "bob@example.com"),
    ]
    assert pairs("Max Kohl | [example.com] <kohl@example.com>") == [
        ("Max Kohl | [example.com]", "kohl@example.com")
    ]
    assert pairs("MAILER-DAEMON (Mail Delivery System) <postmaster@example.com>") == [
        ("MAILER-DAEMON", "postmaster@example.com")
    ]
    assert pairs("Namedy (hans@example.com)") == [("Namedy", "hans@example.com")]


def test_encoded_word_with_comma_stays_one_name() -> None:
    assert pairs("=?iso-8859-1?Q?B=FCrling,=20Andreas?= <smith@example.com>") == [
        ("Bürling, Andreas", "smith@example.com")
    ]


def test_groups_and_junk_are_dropped() -> None:
    assert pairs("undisclosed-recipients:;") == []
    assert pairs("team: a@example.com, b@example.com;") == [
        ("", "a@example.com"),
        ("", "b@example.com"),
    ]
    assert pairs("xxx") == []
    assert pairs("") == []


def test_encoded_words_in_addr_spec_stay_literal() -> None:
    assert pairs("=?utf-8?Q?agent?=@example.com") == [("", "=?utf-8?Q?agent?=@example.com")]


def test_first_address_and_normalising() -> None:
    found = parse_first_address(["no address here", "Boss <BOSS@Example.COM>"])
    assert found == Address(name="Boss", email="BOSS@Example.COM")
    assert found.normalized == "boss@example.com"
    assert normalize_email("  <Someone@Example.org> ") == "someone@example.org"


def test_message_ids() -> None:
    assert extract_message_ids("<a@b> <c@d>\r\n <a@b>") == ("a@b", "c@d")
    assert extract_message_ids("bare@example.com") == ("bare@example.com",)
    assert extract_message_ids("") == ()
