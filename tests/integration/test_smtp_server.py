"""The SMTP and LMTP server, driven by a real SMTP client over a socket."""

from __future__ import annotations

import smtplib
import socket
import tempfile
from pathlib import Path

import pytest

from postdesk.spool.models import InboundMessage
from tests.conftest import LiveSMTP

pytestmark = pytest.mark.django_db(transaction=True)


def raw_session(port: int, lines: list[bytes], settle: float = 0.3) -> str:
    """Send protocol bytes as they are (no client-side fixing) and return all replies."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.settimeout(settle)
        replies = b""
        for line in lines:
            sock.sendall(line)
            try:
                while chunk := sock.recv(65536):
                    replies += chunk
            except TimeoutError:
                pass
        return replies.decode(errors="replace")


def test_250_means_stored(live_smtp, mail):
    raw = mail()
    with smtplib.SMTP("127.0.0.1", live_smtp.port) as client:
        code, reply = client.ehlo("mx.example.com")
        assert b"SMTPUTF8" in reply and b"SIZE 52428800" in reply
        client.mail("ada@example.com")
        client.rcpt("support@desk.test")
        code, reply = client.data(raw)
    assert code == 250
    stored = InboundMessage.objects.get()
    assert reply.decode().endswith(f"queued as {stored.pk}")
    assert bytes(stored.raw) == raw
    assert (stored.transport, stored.helo, stored.peer_ip) == (
        "smtp",
        "mx.example.com",
        "127.0.0.1",
    )


def test_any_local_part_at_the_desk_domain_is_accepted_and_others_refused(live_smtp):
    with smtplib.SMTP("127.0.0.1", live_smtp.port) as client:
        client.ehlo()
        client.mail("ada@example.com")
        assert client.rcpt("whatever+x@desk.test")[0] == 250
        code, reply = client.rcpt("victim@example.org")
        assert (code, reply[:5]) == (550, b"5.1.1")
        assert client.rcpt("support@DESK.TEST")[0] == 250


def test_never_an_open_relay(live_smtp, mail):
    with (
        smtplib.SMTP("127.0.0.1", live_smtp.port) as client,
        pytest.raises(smtplib.SMTPRecipientsRefused),
    ):
        client.sendmail(
            "spammer@example.net", ["victim@example.org"], mail(to="victim@example.org")
        )
    assert InboundMessage.objects.count() == 0


def test_oversize_mail_gets_552(transactional_db, mail):
    with (
        LiveSMTP(max_message_size=2000) as server,
        smtplib.SMTP("127.0.0.1", server.port) as client,
    ):
        client.ehlo()
        client.mail("ada@example.com")
        client.rcpt("support@desk.test")
        code, reply = client.data(mail(body="x" * 3000))
    assert (code, reply) == (552, b"5.3.4 Message too big for system")
    assert InboundMessage.objects.count() == 0


def test_a_declared_size_over_the_limit_gets_552_at_mail_from(transactional_db):
    with (
        LiveSMTP(max_message_size=2000) as server,
        smtplib.SMTP("127.0.0.1", server.port) as client,
    ):
        client.ehlo()
        assert client.has_extn("size") and client.esmtp_features["size"] == "2000"
        code, reply = client.docmd("MAIL FROM:<ada@example.com> SIZE=5000")
    assert (code, reply) == (552, b"5.3.4 Message too big for system")


def test_too_many_recipients_get_452(transactional_db):
    with LiveSMTP(max_recipients=2) as server, smtplib.SMTP("127.0.0.1", server.port) as client:
        client.ehlo()
        client.mail("ada@example.com")
        assert client.rcpt("a@desk.test")[0] == 250
        assert client.rcpt("b@desk.test")[0] == 250
        code, reply = client.rcpt("c@desk.test")
        assert (code, reply[:5]) == (452, b"4.5.3")


def test_connections_over_the_limit_get_421(transactional_db):
    with LiveSMTP(max_connections=1) as server, smtplib.SMTP("127.0.0.1", server.port) as first:
        first.ehlo()
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as second:
            assert second.recv(200).startswith(b"421 4.7.0")
        assert first.noop()[0] == 250


def test_bare_lf_in_data_is_refused_so_smuggling_cannot_work(live_smtp):
    # The classic smuggling payload: a second message hidden after <LF>.<CR><LF>.
    replies = raw_session(
        live_smtp.port,
        [
            b"EHLO attacker.example\r\n",
            b"MAIL FROM:<a@example.com>\r\n",
            b"RCPT TO:<support@desk.test>\r\n",
            b"DATA\r\n",
            b"Subject: first\r\n\r\nbody\n.\r\nMAIL FROM:<b@example.com>\r\nRCPT TO:<support@desk.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n",
        ],
    )
    assert "554 5.6.11" in replies
    assert InboundMessage.objects.count() == 0


def test_smuggling_with_bare_cr_is_refused(live_smtp):
    replies = raw_session(
        live_smtp.port,
        [
            b"EHLO attacker.example\r\n",
            b"MAIL FROM:<a@example.com>\r\n",
            b"RCPT TO:<support@desk.test>\r\n",
            b"DATA\r\n",
            b"Subject: first\r\n\r\nbody\r.\r\nmore\r\n.\r\n",
        ],
    )
    assert "554 5.6.11" in replies
    assert InboundMessage.objects.count() == 0


def test_overlong_command_line_is_refused_and_the_session_survives(live_smtp):
    replies = raw_session(
        live_smtp.port,
        [
            b"EHLO client.example\r\n",
            b"MAIL FROM:<" + b"a" * 5000 + b"@example.com>\r\n",
            b"NOOP\r\n",
        ],
    )
    assert "500 Command line too long" in replies
    assert replies.rstrip().endswith("250 OK")


def test_bdat_is_not_offered_nor_accepted(live_smtp):
    replies = raw_session(live_smtp.port, [b"EHLO client.example\r\n", b"BDAT 10 LAST\r\n"])
    assert "CHUNKING" not in replies
    assert '500 Error: command "BDAT" not recognized' in replies


def test_pipelined_commands_sent_at_once_are_answered_in_order(live_smtp, mail):
    body = mail().replace(b"\r\n.", b"\r\n..")
    replies = raw_session(
        live_smtp.port,
        [
            b"EHLO client.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<nobody@example.org>\r\n"
            b"RCPT TO:<support@desk.test>\r\nDATA\r\n",
            body + b".\r\nQUIT\r\n",
        ],
    )
    codes = [line[:3] for line in replies.splitlines() if line[3:4] == " "]
    assert codes == ["220", "250", "250", "550", "250", "354", "250", "221"]
    assert InboundMessage.objects.count() == 1


def test_garbage_does_not_crash_the_server(live_smtp, mail):
    raw_session(
        live_smtp.port, [b"\x00\xff\xfe garbage\r\n", b"HELO\r\n", b"\r\n" * 50, b"DATA\r\n"]
    )
    with smtplib.SMTP("127.0.0.1", live_smtp.port) as client:
        client.sendmail("ada@example.com", ["support@desk.test"], mail())
    assert InboundMessage.objects.count() == 1


def test_an_address_the_email_parser_chokes_on_is_just_malformed(live_smtp, mail):
    with smtplib.SMTP("127.0.0.1", live_smtp.port) as client:
        client.ehlo()
        code, reply = client.docmd('MAIL FROM:"')
        assert code == 553 and b"IndexError" not in reply
        client.sendmail("ada@example.com", ["support@desk.test"], mail())
    assert InboundMessage.objects.count() == 1


def test_long_lines_in_real_mail_are_accepted(live_smtp, mail):
    raw = mail(body="y" * 200_000 + "\r\n")
    with smtplib.SMTP("127.0.0.1", live_smtp.port) as client:
        client.sendmail("ada@example.com", ["support@desk.test"], raw)
    assert bytes(InboundMessage.objects.get().raw) == raw


def test_smtputf8_addresses(live_smtp, mail):
    raw = mail(sender="김철수 <철수@example.kr>")
    with smtplib.SMTP("127.0.0.1", live_smtp.port) as client:
        client.ehlo()
        client.sendmail("철수@example.kr", ["지원@desk.test"], raw, mail_options=["SMTPUTF8"])
    stored = InboundMessage.objects.get()
    assert stored.mail_from == "철수@example.kr"
    assert stored.rcpt_tos == ["지원@desk.test"]


def test_xforward_is_only_honoured_from_loopback_and_marks_the_pipe(live_smtp, mail):
    with smtplib.SMTP("127.0.0.1", live_smtp.port) as client:
        client.ehlo()
        assert client.docmd("XFORWARD", "PROTO=PIPE")[0] == 250
        client.sendmail("ada@example.com", ["support@desk.test"], mail())
    assert InboundMessage.objects.get().envelope_extra == {"proto": "PIPE"}


def test_lmtp_socket_answers_per_recipient(transactional_db, mail):
    socket_path = str(Path(tempfile.mkdtemp()) / "lmtp.sock")
    with LiveSMTP(lmtp_socket=socket_path), smtplib.LMTP(socket_path) as client:
        client.ehlo()  # smtplib's LMTP sends LHLO
        client.mail("ada@example.com")
        client.rcpt("support@desk.test")
        client.rcpt("billing@desk.test")
        client.send(b"DATA\r\n")
        assert client.getreply()[0] == 354
        client.send(mail() + b".\r\n")
        first, second = client.getreply(), client.getreply()
    assert first[0] == second[0] == 250
    stored = InboundMessage.objects.get()
    assert stored.transport == "lmtp"
    assert stored.rcpt_tos == ["support@desk.test", "billing@desk.test"]
