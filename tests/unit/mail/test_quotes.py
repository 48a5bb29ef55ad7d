"""split_reply: our delimiter first, then heuristics; never losing a character."""

from __future__ import annotations

import pytest

from postdesk.mail.quotes import split_reply


def test_our_delimiter_wins_with_the_attribution_above_it() -> None:
    text = (
        "Thanks, that fixed it.\n\n"
        "On Tue, Mar 3, 2026 at 10:00 AM Acme Support <support@acme.example> wrote:\n"
        "> ##- Please type your reply above this line -##\n"
        "> Hello, please try restarting.\n"
    )
    new, quoted = split_reply(text)
    assert new.strip() == "Thanks, that fixed it."
    assert quoted.startswith("On Tue")
    assert new + quoted == text


def test_korean_delimiter() -> None:
    text = "확인했습니다. 감사합니다.\n\n##- 이 줄 위에 답장을 입력해 주세요 -##\n이전 내용\n"
    new, quoted = split_reply(text)
    assert new.strip() == "확인했습니다. 감사합니다."
    assert quoted.startswith("##-")


@pytest.mark.parametrize(
    "history",
    [
        "On Mon, Mar 2, 2026 at 9:00 AM, Kim <kim@example.kr> wrote:\n> old\n",
        "2026년 3월 2일 (월) 오전 9:00, Kim <kim@example.kr>님이 작성:\n> 이전\n",
        "-----Original Message-----\nFrom: Kim\nSent: Monday\n",
        "From: Kim <kim@example.kr>\nSent: Monday, March 2, 2026\nTo: support\n",
        "-- \nKim Minsu\nSales\n",
        "Sent from my iPhone\n",
    ],
)
def test_history_starts_are_found(history: str) -> None:
    text = "New answer here.\n\n" + history
    new, quoted = split_reply(text)
    assert new.strip() == "New answer here."
    assert new + quoted == text


def test_inline_quotes_above_new_text_stay() -> None:
    text = "> Can you check?\n\nYes, done.\n"
    assert split_reply(text) == (text, "")


def test_code_fences_are_not_cut() -> None:
    text = "Here:\n```\n--\n####\n```\nThanks\n"
    assert split_reply(text) == (text, "")


def test_empty_text() -> None:
    assert split_reply("") == ("", "")


def test_a_200_kb_line_is_body_text_and_is_read_in_linear_time() -> None:
    # Regression: the address search in the attribution heuristic retried from every
    # position of a long word, so one 200 KB line kept a worker busy for minutes.
    line = "x" * 200_000
    text = f"{line}\nOn Mon, 2 Mar 2026, Bob <bob@example.com> wrote:\n> old\n"
    new, quoted = split_reply(text)
    assert new == line + "\n"
    assert quoted.startswith("On Mon, 2 Mar 2026")
