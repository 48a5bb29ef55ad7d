"""The domain a person gives check-dns: ASCII, IDNA, and what is refused."""

from __future__ import annotations

import pytest

from postdesk.dns.names import InvalidDomain, normalise_domain
from postdesk.dns.resolver import parse_server


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("MyCompany.Test.", "mycompany.test"),
        (" mail.example.co.kr ", "mail.example.co.kr"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("한국.example", "xn--3e0b707e.example"),
    ],
)
def test_valid_domains(given: str, expected: str) -> None:
    assert normalise_domain(given) == expected


@pytest.mark.parametrize(
    "given",
    ["", ".", "localhost", "a@b.test", "bad_name.test", "-x.test", "a..test", "x" * 64 + ".test",
     "a b.test", "ex ample.com", ("a." * 127) + "test"],
)  # fmt: skip
def test_invalid_domains(given: str) -> None:
    with pytest.raises(InvalidDomain):
        normalise_domain(given)


def test_postdesk_dns_server_forms() -> None:
    assert parse_server("127.0.0.1") == ("127.0.0.1", 53)
    assert parse_server("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_server("::1") == ("::1", 53)
    assert parse_server("[::1]:5353") == ("::1", 5353)
