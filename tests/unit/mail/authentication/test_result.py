"""AuthResult as JSON and back."""

from __future__ import annotations

import json

from postdesk.mail.authentication import AuthResult, Trust, evaluate

from .support import DIRECT, dns, key_record, mail, sign


def test_as_json_round_trips_through_json_text() -> None:
    raw = b"Authentication-Results: mx.x; dkim=pass header.d=example.com\r\n" + sign(
        mail(), "example.com"
    )
    trust = Trust(authserv_ids=frozenset({"mx.x"}))
    result = evaluate(raw, DIRECT, trust, dns(key_record("example.com")))
    data = json.loads(json.dumps(result.as_json()))
    assert set(data) == {
        "verdict",
        "reason",
        "from_domain",
        "spf",
        "dkim",
        "dmarc",
        "arc",
        "upstream",
    }
    again = AuthResult.from_json(data)
    assert again == result
    assert again.as_json() == data


def test_as_json_is_a_copy() -> None:
    result = evaluate(sign(mail(), "example.com"), DIRECT, Trust(), dns(key_record("example.com")))
    data = result.as_json()
    data["dkim"][0]["result"] = "changed"
    assert result.dkim[0]["result"] == "pass"


def test_from_json_fills_missing_parts_with_defaults() -> None:
    result = AuthResult.from_json({"verdict": "fail", "reason": "r"})
    assert result.spf == {"result": "not_checked", "domain": "", "aligned": False}
    assert result.dkim == []
    assert result.dmarc == {"result": "none", "policy": "", "record_domain": ""}
    assert result.arc == {"result": "none", "sealer": "", "trusted": False, "dmarc": ""}
    assert result.upstream == {}
