"""The smuggling check and the MAIL/RCPT address parser of ``postdesk smtpd``."""

from __future__ import annotations

import re

from aiosmtpd.smtp import SMTP
from hypothesis import given
from hypothesis import strategies as st

from postdesk.transports.smtp import DeskSMTP, has_bare_line_ending

# The plain definition: a LF without a CR before it, or a CR without a LF after it.
BARE = re.compile(rb"(?<!\r)\n|\r(?!\n)")


@given(st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b"a", b".", b" "]), max_size=40))
def test_bare_line_endings_are_found_exactly_where_the_definition_says(pieces):
    raw = b"".join(pieces)
    assert has_bare_line_ending(raw) == bool(BARE.search(raw))


def test_examples():
    assert not has_bare_line_ending(b"Subject: x\r\n\r\nbody\r\n")
    assert has_bare_line_ending(b"body\n.\r\n")
    assert has_bare_line_ending(b"body\r.\r\n")
    assert has_bare_line_ending(b"a\r\r\n")


class _Parser(DeskSMTP):
    def __init__(self, local_part_limit: int = 0) -> None:  # no server needed to parse
        self.local_part_limit = local_part_limit


ADDRESSES = [
    "<ada@example.com> SIZE=100",
    "ada@example.com",
    "<>",
    "",
    "<not an address",
    '<"quoted local"@example.com>',
    "<ada@[192.0.2.1]> BODY=8BITMIME",
    "<한글@예시.kr> SMTPUTF8",
    "<@relay.example:ada@example.com>",
]


def test_addresses_parse_as_aiosmtpd_parses_them():
    parser = _Parser()
    for arg in ADDRESSES:
        assert parser._getaddr(arg) == SMTP._getaddr(parser, arg), arg  # type: ignore[arg-type]


@given(st.text(max_size=40))
def test_any_argument_parses_as_aiosmtpd_parses_it(arg):
    parser = _Parser(local_part_limit=8)
    try:
        expected = SMTP._getaddr(parser, arg)  # type: ignore[arg-type]
    except IndexError:
        # The email package's parser breaks on some input (a lone '"'); aiosmtpd lets that
        # escape as a 500 naming the exception, ours calls it a malformed address.
        expected = (None, None)
    assert parser._getaddr(arg) == expected


def test_a_lone_quote_is_a_malformed_address_not_a_crash():
    assert _Parser()._getaddr('"') == (None, None)
    assert _Parser()._getaddr('<"') == (None, None)


def test_the_local_part_limit_holds():
    assert _Parser(local_part_limit=3)._getaddr("<adam@example.com>") == (None, None)
    assert _Parser(local_part_limit=4)._getaddr("<adam@example.com>")[0] == "adam@example.com"
