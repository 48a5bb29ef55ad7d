"""Charset handling: superset aliases, repairs and RFC 2047 words split mid-character."""

from __future__ import annotations

import base64

from postdesk.mail.charsets import codec_for, decode_bytes, decode_header_value


def test_korean_legacy_labels_decode_as_cp949() -> None:
    # "똠" and "햏" exist in cp949 (UHC) but not in strict EUC-KR: senders label them EUC-KR.
    data = "똠방각하 햏".encode("cp949")
    for label in ("euc-kr", "EUC-KR", "ks_c_5601-1987", "ks_c_5601-1989", "windows-949"):
        assert codec_for(label) == "cp949"
        assert decode_bytes(data, label) == ("똠방각하 햏", None)


def test_gb2312_decodes_as_gbk() -> None:
    data = "中文測試".encode("gbk")  # traditional characters: GBK, not GB2312
    assert codec_for("gb2312") == "gbk"
    assert decode_bytes(data, "gb2312") == ("中文測試", None)


def test_iso_2022_jp_and_kr() -> None:
    assert (
        decode_bytes("日本語のテキスト".encode("iso2022_jp"), "ISO-2022-JP")[0]
        == "日本語のテキスト"
    )
    assert decode_bytes("한국어 본문".encode("iso2022_kr"), "ISO-2022-KR")[0] == "한국어 본문"


def test_undeclared_iso_2022_jp_escapes_are_decoded() -> None:
    assert decode_bytes("テスト".encode("iso2022_jp"), None)[0] == "テスト"


def test_utf8_labelled_latin1_is_repaired_with_a_defect() -> None:
    text, defect = decode_bytes("Grüße".encode(), "iso-8859-1")
    assert text == "Grüße"
    assert defect is not None


def test_latin1_label_reads_windows_1252_quotes() -> None:
    assert decode_bytes(b"\x93quoted\x94", "iso-8859-1")[0] == "\u201cquoted\u201d"


def test_unknown_charset_is_reported_and_text_still_comes_back() -> None:
    text, defect = decode_bytes("안녕하세요, 문의드립니다".encode("cp949"), "x-no-such-charset")
    assert defect is not None and "x-no-such-charset" in defect
    assert text == "안녕하세요, 문의드립니다"


def test_undeclared_korean_is_guessed() -> None:
    sample = "안녕하세요. 주문한 상품이 아직 도착하지 않았습니다. 확인 부탁드립니다.".encode(
        "cp949"
    )
    assert decode_bytes(sample, None)[0].startswith("안녕하세요")


def test_rfc2047_word_split_mid_character_is_joined() -> None:
    data = "한국어 제목".encode()
    first, second = data[:4], data[4:]  # cuts "국" in the middle of its three bytes
    header = (
        f"=?UTF-8?B?{base64.b64encode(first).decode()}?=\r\n"
        f" =?UTF-8?B?{base64.b64encode(second).decode()}?="
    ).replace("\r\n", "")
    assert decode_header_value(header) == "한국어 제목"


def test_rfc2047_q_words_split_mid_character_in_euc_kr() -> None:
    data = "문의".encode("euc-kr")
    words = " ".join(f"=?euc-kr?Q?={byte:02X}?=" for byte in data)
    assert decode_header_value(words) == "문의"


def test_rfc2047_keeps_space_between_word_and_text_and_drops_it_between_words() -> None:
    assert decode_header_value("=?utf-8?Q?a?= =?utf-8?Q?b?= c") == "ab c"


def test_rfc2231_language_suffix_in_encoded_word() -> None:
    assert decode_header_value("=?UTF-8*ko?B?7ZWc6riA?=") == "한글"


def test_broken_base64_in_encoded_word_does_not_raise() -> None:
    assert isinstance(decode_header_value("=?utf-8?B?####?= tail"), str)


def test_lone_8bit_bytes_in_undeclared_text_are_western_not_cjk() -> None:
    # Regression: charset-normalizer read the four bytes of "Käse" as GBK ("K酲e").
    assert decode_bytes(b"K\xe4se", None)[0] == "Käse"
    assert decode_bytes(b"caf\xe9 cr\xe8me", None)[0] == "café crème"
