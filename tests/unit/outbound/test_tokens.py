"""Signed Message-IDs, ticket tokens, plus addresses, verification tokens and VERP."""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postdesk.mail import tokens

KEY = b"0123456789abcdef0123456789abcdef"
OTHER_KEY = b"fedcba9876543210fedcba9876543210"
DOMAIN = "acme.postdesk.test"

ids = st.integers(min_value=0, max_value=2**63 - 1)
token_ids = st.integers(min_value=0, max_value=30**7 - 1)


# --------------------------------------------------------------------------- Message-IDs


def test_message_id_shape() -> None:
    message_id = tokens.make_message_id(KEY, DOMAIN, 42, 7)
    assert re.fullmatch(r"<pd\.42\.7\.[a-z2-7]{8}\.[a-z2-7]{16}@acme\.postdesk\.test>", message_id)


@given(ticket_id=ids, outbound_id=ids)
def test_message_id_round_trip(ticket_id: int, outbound_id: int) -> None:
    message_id = tokens.make_message_id(KEY, DOMAIN, ticket_id, outbound_id)
    assert tokens.read_message_id(KEY, message_id) == tokens.OwnMessageId(ticket_id, outbound_id)


def test_message_ids_are_unique_even_for_the_same_outbound_id() -> None:
    assert tokens.make_message_id(KEY, DOMAIN, 1, 1) != tokens.make_message_id(KEY, DOMAIN, 1, 1)


def test_message_id_survives_case_folding_and_missing_brackets() -> None:
    message_id = tokens.make_message_id(KEY, DOMAIN, 42, 7)
    assert tokens.read_message_id(KEY, message_id.upper()) == tokens.OwnMessageId(42, 7)
    assert tokens.read_message_id(KEY, f"  {message_id.strip('<>')}\t") == tokens.OwnMessageId(
        42, 7
    )


def test_message_id_is_recognised_after_the_desk_domain_changed() -> None:
    message_id = tokens.make_message_id(KEY, DOMAIN, 42, 7).replace(DOMAIN, "help.newname.test")
    assert tokens.read_message_id(KEY, message_id) == tokens.OwnMessageId(42, 7)


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda mid: mid.replace("pd.42.", "pd.43."), id="other ticket"),
        pytest.param(lambda mid: mid.replace(".7.", ".8."), id="other outbound"),
        pytest.param(lambda mid: mid.replace("pd.42.", "pd.042."), id="leading zero"),
        pytest.param(
            lambda mid: mid[:-30] + ("a" if mid[-30] != "a" else "b") + mid[-29:], id="mac bit"
        ),
        pytest.param(lambda mid: mid.replace("<pd.", "<xx."), id="prefix"),
        pytest.param(lambda mid: mid.replace("@", "@@"), id="two ats"),
    ],
)
def test_forged_message_ids_are_not_ours(forge) -> None:  # type: ignore[no-untyped-def]
    message_id = tokens.make_message_id(KEY, DOMAIN, 42, 7)
    assert tokens.read_message_id(KEY, forge(message_id)) is None


def test_message_id_of_another_instance_is_not_ours() -> None:
    message_id = tokens.make_message_id(OTHER_KEY, DOMAIN, 42, 7)
    assert tokens.read_message_id(KEY, message_id) is None


def test_foreign_message_ids_are_not_ours() -> None:
    for foreign in [
        "<CAF=abc@mail.gmail.com>",
        "",
        "<>",
        "<pd.1.2@x>",
        "pd.1.t.@x",
        "<pd.99999999999999999999.t.aaaaaaaaaaaaaaaa@x>",
    ]:
        assert tokens.read_message_id(KEY, foreign) is None


def test_ticket_reference_is_constant_and_recognised() -> None:
    reference = tokens.ticket_reference(KEY, DOMAIN, 42)
    assert reference == tokens.ticket_reference(KEY, DOMAIN, 42)
    assert reference != tokens.ticket_reference(KEY, DOMAIN, 43)
    assert re.fullmatch(r"<pd\.42\.t\.[a-z2-7]{16}@acme\.postdesk\.test>", reference)
    assert tokens.read_message_id(KEY, reference) == tokens.OwnMessageId(42, None)
    assert tokens.read_message_id(KEY, reference.replace("pd.42.", "pd.41.")) is None


def test_own_message_ids_in_a_references_header() -> None:
    reference = tokens.ticket_reference(KEY, DOMAIN, 42)
    ours = tokens.make_message_id(KEY, DOMAIN, 42, 9)
    forged = tokens.make_message_id(OTHER_KEY, DOMAIN, 66, 1)
    header = f"{reference}\r\n <CAF123@mail.gmail.com> {forged}\r\n\t{ours}"
    assert tokens.own_message_ids(KEY, header) == [
        tokens.OwnMessageId(42, None),
        tokens.OwnMessageId(42, 9),
    ]


@pytest.mark.parametrize("domain", ["bad domain", "a.test>\r\nBcc: x@y", "", "-a.test", "a..test"])
def test_message_id_refuses_a_bad_domain(domain: str) -> None:
    with pytest.raises(ValueError, match="mail domain"):
        tokens.make_message_id(KEY, domain, 1, 1)


@pytest.mark.parametrize("bad", [-1, 2**63, True])
def test_ids_must_be_database_integers(bad: int) -> None:
    with pytest.raises(ValueError, match="ticket_id"):
        tokens.make_message_id(KEY, DOMAIN, bad, 1)


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="key"):
        tokens.make_message_id(b"", DOMAIN, 1, 1)


# --------------------------------------------------------------------------- ticket tokens


def test_ticket_token_shape() -> None:
    token = tokens.make_ticket_token(KEY, 42)
    assert re.fullmatch(r"[2-9A-HJKMNP-TV-Z]{4}-[2-9A-HJKMNP-TV-Z]{6}", token)
    assert not set(token) & set("01ILOU")
    assert tokens.make_ticket_token(KEY, 42) == token  # constant per ticket


@given(token_ids)
def test_ticket_token_round_trip(ticket_id: int) -> None:
    token = tokens.make_ticket_token(KEY, ticket_id)
    assert tokens.read_ticket_token(KEY, token) == ticket_id
    assert tokens.read_ticket_token(KEY, f"[{token.lower()}]") == ticket_id
    assert tokens.find_ticket_token(KEY, f"Re: thanks\n\n> [{token}]\n") == ticket_id


def test_ticket_token_grows_with_the_ticket_number() -> None:
    assert len(tokens.make_ticket_token(KEY, 30**4 - 1)) == 11
    assert len(tokens.make_ticket_token(KEY, 30**4)) == 12
    with pytest.raises(ValueError, match="too large"):
        tokens.make_ticket_token(KEY, 30**7)


def test_find_ticket_token_in_a_body() -> None:
    token = tokens.make_ticket_token(KEY, 1234)
    body = f"Thanks!\r\n\r\nOn Monday Support wrote:\r\n> Hello\r\n> [{token}]\r\n"
    assert tokens.find_ticket_token(KEY, body) == 1234


def test_the_first_valid_token_wins() -> None:
    newer, older = tokens.make_ticket_token(KEY, 2), tokens.make_ticket_token(KEY, 1)
    assert tokens.find_ticket_token(KEY, f"[{newer}]\n> [{older}]") == 2


def test_forged_ticket_tokens_are_ignored() -> None:
    token = tokens.make_ticket_token(KEY, 42)
    id_group, mac_group = token.split("-")
    other_id = tokens.make_ticket_token(KEY, 43).split("-")[0]
    assert tokens.find_ticket_token(KEY, f"[{other_id}-{mac_group}]") is None
    assert tokens.find_ticket_token(KEY, f"[{tokens.make_ticket_token(OTHER_KEY, 42)}]") is None
    assert tokens.find_ticket_token(KEY, f"[2{id_group}-{mac_group}]") is None  # padded id
    assert tokens.find_ticket_token(KEY, f"{token}") is None  # brackets are the marker


def test_a_body_full_of_guesses_gets_only_a_few_tries() -> None:
    token = tokens.make_ticket_token(KEY, 42)
    guesses = "".join(f"[{tokens.make_ticket_token(OTHER_KEY, n)}]\n" for n in range(10))
    assert tokens.find_ticket_token(KEY, guesses + f"[{token}]") is None
    assert tokens.find_ticket_token(KEY, guesses[:40] + f"[{token}]") == 42


def test_plus_address_round_trip() -> None:
    address = tokens.plus_address(KEY, "support@acme.postdesk.test", 42)
    token = tokens.make_ticket_token(KEY, 42).lower()
    assert address == f"support+{token}@acme.postdesk.test"
    assert tokens.read_plus_address(KEY, address) == tokens.PlusAddress(
        "support@acme.postdesk.test", 42
    )
    assert tokens.read_plus_address(KEY, f"<{address.upper()}>") == tokens.PlusAddress(
        "SUPPORT@ACME.POSTDESK.TEST", 42
    )


def test_plus_addresses_that_are_not_ours() -> None:
    for address in [
        "support@acme.postdesk.test",
        "support+hello@acme.postdesk.test",
        "+2226-abcdef@acme.postdesk.test",
        tokens.plus_address(OTHER_KEY, "support@acme.postdesk.test", 42),
        "support+2226-abcdef",
    ]:
        assert tokens.read_plus_address(KEY, address) is None


def test_plus_address_needs_a_plain_address() -> None:
    with pytest.raises(ValueError):
        tokens.plus_address(KEY, "support+x@acme.postdesk.test", 1)
    with pytest.raises(ValueError):
        tokens.plus_address(KEY, "support", 1)


# --------------------------------------------------------------------------- verification


def test_verification_tokens_are_random_and_hashed() -> None:
    token, digest = tokens.new_verification_token()
    assert re.fullmatch(r"pdv-[a-z2-7]{32}", token)
    assert digest == hashlib.sha256(token.encode()).hexdigest() == tokens.hash_token(token)
    assert tokens.hash_token(f" {token.upper()} ") == digest
    assert tokens.new_verification_token()[0] != token


def test_find_verification_token_prefers_the_header() -> None:
    header_token, _ = tokens.new_verification_token()
    subject_token, _ = tokens.new_verification_token()
    found = tokens.find_verification_token(
        header=header_token, subject=f"Postdesk forwarding test {subject_token}", body=""
    )
    assert found == header_token


def test_find_verification_token_in_a_rewritten_subject_or_body() -> None:
    token, digest = tokens.new_verification_token()
    subject = f"FW: [EXTERNAL] Postdesk forwarding test ({token.upper()})"
    assert tokens.find_verification_token(header=None, subject=subject, body=None) == token
    body = f"---------- Forwarded message ---------\r\nCode: {token}.\r\n"
    assert tokens.find_verification_token(subject="Fwd: test", body=body) == token
    assert tokens.hash_token(tokens.find_verification_token(body=body) or "") == digest


def test_find_verification_token_ignores_near_misses() -> None:
    token, _ = tokens.new_verification_token()
    assert tokens.find_verification_token(body=token[:-1]) is None
    assert tokens.find_verification_token(body=token + "a") is None
    assert tokens.find_verification_token(body="x" + token) is None
    assert tokens.find_verification_token() is None


# --------------------------------------------------------------------------- VERP


def test_verp_round_trip_and_recipient_matching() -> None:
    address = tokens.verp_address(KEY, "bounces.acme.test", 123, "Bob@Example.com")
    local = address.split("@")[0]
    assert re.fullmatch(r"bounces\+123-[a-z2-7]{24}", local)
    assert "bob" not in address.lower()
    info = tokens.read_verp(KEY, address)
    assert info is not None and info.outbound_id == 123
    assert tokens.verp_matches(KEY, info, "bob@example.com")
    assert not tokens.verp_matches(KEY, info, "carol@example.com")
    recipients = ["carol@example.com", "BOB@example.com"]
    assert tokens.verp_recipient(KEY, info, recipients) == "BOB@example.com"
    assert tokens.read_verp(KEY, f"<{address.upper()}>") == info


def test_verp_local_part_stays_under_64_octets() -> None:
    address = tokens.verp_address(KEY, "b.test", 2**63 - 1, "x" * 64 + "@" + "y" * 180 + ".test")
    assert len(address.split("@")[0]) <= 64


def test_forged_or_foreign_return_paths_are_not_ours() -> None:
    address = tokens.verp_address(KEY, "b.test", 123, "bob@example.com")
    local, domain = address.split("@")
    for forged in [
        address.replace("+123-", "+124-"),
        tokens.verp_address(OTHER_KEY, "b.test", 123, "bob@example.com"),
        local[:-1] + ("a" if local[-1] != "a" else "b") + "@" + domain,
        address.replace("bounces+", "other+"),
        "bounces@b.test",
        "MAILER-DAEMON@b.test",
        "",
    ]:
        assert tokens.read_verp(KEY, forged) is None


def test_a_tag_from_one_mail_does_not_name_a_recipient_of_another() -> None:
    first = tokens.read_verp(KEY, tokens.verp_address(KEY, "b.test", 1, "bob@example.com"))
    assert first is not None
    assert (
        tokens.verp_recipient(KEY, tokens.VerpInfo(2, first.recipient_tag), ["bob@example.com"])
        is None
    )
