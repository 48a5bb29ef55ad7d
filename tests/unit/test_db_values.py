"""``inbound.content.db_text``/``db_json``: what reaches a column holds no NUL and no lone
surrogate, whatever shape the value has, and clean values come through unchanged."""

from __future__ import annotations

from postdesk.inbound.content import db_json, db_text


def test_clean_ascii_text_is_kept_and_cut_to_the_limit() -> None:
    assert db_text("hello world") == "hello world"
    assert db_text("hello world", 5) == "hello"


def test_nul_is_removed_from_ascii_and_non_ascii_text() -> None:
    assert db_text("a\x00b") == "ab"
    assert db_text("안\x00녕", 1) == "안"


def test_lone_surrogates_are_replaced() -> None:
    assert db_text("caf\udce9") == "caf?"
    assert db_text("naïve") == "naïve"


def test_every_string_of_a_nested_value_is_cleaned_and_other_values_kept() -> None:
    value = {
        "a\x00": ["x\x00", ("y", 3), {"k": "\udcff"}],
        "n": None,
        "flag": True,
        "ratio": 0.5,
        7: "seven",
    }
    assert db_json(value) == {
        "a": ["x", ["y", 3], {"k": "?"}],
        "n": None,
        "flag": True,
        "ratio": 0.5,
        "7": "seven",
    }
