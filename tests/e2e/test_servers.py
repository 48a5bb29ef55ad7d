"""The end-to-end test servers themselves, proven with real traffic.

Each test drives one server the way Postdesk's end-to-end tests will: mail forwarded by a
customer's Postfix through a virtual alias, retries after a relay's failures, a DKIM key split
over several TXT strings and verified by dkimpy through dnsmasq, a mailbox read over IMAP,
a page rendered by Chromium, and the SMTP sink's scripted failures as smtplib sees them.
"""

from __future__ import annotations

import email.utils
import http.server
import imaplib
import smtplib
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import dkim
import dns.flags
import dns.rdatatype
import dns.resolver
import pytest
from playwright.sync_api import Page

from tests.dkim_keys import rsa_key

from .servers import LOOPBACK, port_is_open
from .servers.dns import DnsServer
from .servers.dovecot import DovecotInstance
from .servers.postfix import PostfixInstance
from .servers.sink import SmtpSink


def mail(
    subject: str, *, sender: str = "alice@customer.test", to: str = "billing@mycompany.test"
) -> bytes:
    """A small RFC 5322 message as a mail client would send it."""
    return (
        f"From: Alice <{sender}>\r\n"
        f"To: {to}\r\n"
        f"Subject: {subject}\r\n"
        f"Date: {email.utils.formatdate()}\r\n"
        f"Message-ID: {email.utils.make_msgid(domain='customer.test')}\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"Hello, this is about {subject}.\r\n"
    ).encode()


def listens_only_on_loopback_address(port: int) -> bool:
    """True if the port answers on 127.0.0.1 but not on another loopback address.

    A socket bound to 0.0.0.0 would answer on 127.0.0.2 too.
    """
    return port_is_open(port, LOOPBACK) and not port_is_open(port, "127.0.0.2")


# -- Postfix --------------------------------------------------------------------------------


def test_postfix_forwards_through_virtual_alias_with_rewritten_envelope(
    make_postfix: Callable[..., PostfixInstance], smtp_sink: SmtpSink
) -> None:
    """The customer's server forwards billing@mycompany.test to the hosted address."""
    customer = make_postfix(
        "mycompany",
        virtual_aliases={"billing@mycompany.test": "billing@desk.test"},
        transports={"desk.test": smtp_sink.port},
    )
    customer.check()
    assert listens_only_on_loopback_address(customer.port)

    raw = mail("invoice 42")
    refused = customer.send(raw, "alice@customer.test", "billing@mycompany.test")
    assert refused == {}

    (received,) = smtp_sink.wait_for(1, timeout=30)
    assert received.rcpt_tos == ("billing@desk.test",)
    assert received.mail_from == "alice@customer.test"
    assert received.helo == "mx.mycompany.test"
    # Forwarding keeps the header To and the body; Postfix adds its Received line on top.
    assert received["To"] == "billing@mycompany.test"
    assert received["Subject"] == "invoice 42"
    assert received.data.startswith(b"Received: from client.test")
    assert raw.split(b"\r\n\r\n", 1)[1] in received.data
    customer.wait_until_empty(timeout=10)
    # postlogd writes asynchronously: wait for the line rather than read the log at once.
    customer.wait_for_log(
        r"to=<billing@desk\.test>, orig_to=<billing@mycompany\.test>.*status=sent"
    )

    # Like a real server, it refuses unknown users of its virtual alias domain at RCPT.
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused_info:
        customer.send(mail("nobody"), "alice@customer.test", "nobody@mycompany.test")
    code, _ = refused_info.value.recipients["nobody@mycompany.test"]
    assert code == 550


def test_two_postfix_instances_chain_customer_server_to_relay(
    make_postfix: Callable[..., PostfixInstance], smtp_sink: SmtpSink
) -> None:
    """Two private instances at once: the customer's server hands desk mail to a relay."""
    relay = make_postfix("relay", relayhost=smtp_sink.port)
    customer = make_postfix(
        "mycompany",
        virtual_aliases={"billing@mycompany.test": ["billing@desk.test", "archive@desk.test"]},
        transports={"desk.test": relay.port},
    )
    assert relay.port != customer.port
    assert relay.queue_dir != customer.queue_dir

    customer.send(mail("chained"), "alice@customer.test", "billing@mycompany.test")

    (received,) = smtp_sink.wait_for(1, timeout=30)
    assert sorted(received.rcpt_tos) == ["archive@desk.test", "billing@desk.test"]
    assert received.helo == "mx.relay.test"
    assert received.data.count(b"Received: ") == 2
    customer.wait_until_empty(timeout=10)
    relay.wait_until_empty(timeout=10)


@pytest.mark.parametrize(
    "failure",
    ["451 at data", "drop in body", "drop after end"],
)
def test_postfix_retries_after_relay_failure(
    postfix: PostfixInstance, smtp_sink: SmtpSink, failure: str
) -> None:
    """Deferred mail is retried within seconds; a reset after the end of DATA is the one
    case where the far end receives the message twice (RFC 1047)."""
    if failure == "451 at data":
        smtp_sink.fail("451 4.3.0 Try again later", at="data", times=1)
    elif failure == "drop in body":
        smtp_sink.drop(at="body", times=1)
    else:
        smtp_sink.drop(at="end", times=1)

    postfix.send(mail(failure), "agent@desk.test", "bob@customer.test")

    (received,) = smtp_sink.wait_for(1, timeout=30)
    assert received.rcpt_tos == ("bob@customer.test",)
    outcomes = [attempt.outcome for attempt in smtp_sink.attempts]
    assert outcomes[-1] == "accepted"
    assert len(outcomes) == 2
    postfix.wait_until_empty(timeout=10)
    postfix.wait_for_log(r"status=deferred")
    postfix.wait_for_log(r"status=sent")
    if failure == "drop after end":
        first, second = smtp_sink.attempts
        assert first.data == second.data


def test_postfix_queue_flush_and_reroute(
    make_postfix: Callable[..., PostfixInstance], make_smtp_sink: Callable[..., SmtpSink]
) -> None:
    """Deferred mail shows in the queue with its reason; flush and update take effect."""
    first, second = make_smtp_sink(), make_smtp_sink()
    # A backoff of minutes: only flush() can make the deferred mail go out within the test.
    relay = make_postfix(
        "relay",
        transports={"desk.test": first.port},
        main_cf={"minimal_backoff_time": "300s", "maximal_backoff_time": "600s"},
    )
    first.fail("451 4.7.1 Greylisted, come back later", at="rcpt")

    relay.send(mail("greylisted"), "alice@customer.test", "support@desk.test")
    # The smtp client logs the deferral just before the queue manager moves the file.
    deadline = time.monotonic() + 15
    while not (queued := relay.queue()) or queued[0]["queue_name"] != "deferred":
        assert time.monotonic() < deadline, f"not deferred: {queued}"
        time.sleep(0.1)
    (entry,) = queued
    (recipient,) = entry["recipients"]
    assert recipient["address"] == "support@desk.test"
    assert "451 4.7.1 Greylisted" in recipient["delay_reason"]
    assert not relay.queue_is_empty()

    first.accept_all()
    relay.flush()
    first.wait_for(1, timeout=15)
    relay.wait_until_empty(timeout=10)

    relay.update(transports={"desk.test": second.port})
    relay.send(mail("rerouted"), "alice@customer.test", "support@desk.test")
    (rerouted,) = second.wait_for(1, timeout=15)
    assert rerouted["Subject"] == "rerouted"
    assert len(first.messages) == 1


def test_postfix_bounces_when_relay_refuses_permanently(
    make_postfix: Callable[..., PostfixInstance], smtp_sink: SmtpSink
) -> None:
    """A 5xx from the next hop bounces the message back to the sender's domain."""
    returns = SmtpSink().start()
    try:
        relay = make_postfix(
            "relay", relayhost=smtp_sink.port, transports={"desk.test": returns.port}
        )
        smtp_sink.fail("550 5.1.1 No such user here", at="rcpt")

        relay.send(mail("to nowhere"), "bounces@desk.test", "gone@customer.test")

        (bounce,) = returns.wait_for(1, timeout=30)
        assert bounce.mail_from == ""
        assert bounce.rcpt_tos == ("bounces@desk.test",)
        assert bounce.message.get_content_type() == "multipart/report"
        assert b"gone@customer.test" in bounce.data
        relay.wait_until_empty(timeout=10)
    finally:
        returns.stop()


# -- DNS ------------------------------------------------------------------------------------


def test_dns_server_answers_records_and_a_split_dkim_txt(dns_server: DnsServer) -> None:
    # RSA-2048, as Postdesk's own keys: the record is longer than one 255-byte string.
    private_key, dkim_record = rsa_key("split TXT", bits=2048)
    assert len(dkim_record) > 255
    dns_server.set_records(
        {
            "mycompany.test": {
                "TXT": ["v=spf1 include:_spf.desk.test -all", "google-site-verification=abc"],
                "MX": [(10, "mx.mycompany.test")],
            },
            "mx.mycompany.test": {"A": ["127.0.0.1"]},
            "s1._domainkey.mycompany.test": {"CNAME": ["s1._domainkey.desk.test"]},
            "s1._domainkey.desk.test": {"TXT": [dkim_record]},
            "_dmarc.mycompany.test": {
                "TXT": [("v=DMARC1; p=reject;", " rua=mailto:d@mycompany.test")]
            },
        }
    )
    assert listens_only_on_loopback_address(dns_server.port)
    resolver = dns_server.resolver()

    # The DKIM record arrives as one TXT record of several strings, each at most 255 bytes.
    answer = resolver.resolve("s1._domainkey.mycompany.test", "TXT")
    assert answer.response.answer[0].rdtype == dns.rdatatype.CNAME
    (rdata,) = list(answer)
    assert len(rdata.strings) == 2
    assert all(len(s) <= 255 for s in rdata.strings)
    assert b"".join(rdata.strings).decode() == dkim_record
    # Same over TCP (large answers fall back to it).
    tcp_answer = resolver.resolve("s1._domainkey.desk.test", "TXT", tcp=True)
    assert b"".join(next(iter(tcp_answer)).strings).decode() == dkim_record
    # Answers are authoritative.
    assert answer.response.flags & dns.flags.AA

    spf = sorted(b"".join(r.strings).decode() for r in resolver.resolve("mycompany.test", "TXT"))
    assert spf == ["google-site-verification=abc", "v=spf1 include:_spf.desk.test -all"]
    (mx,) = list(resolver.resolve("mycompany.test", "MX"))
    assert (mx.preference, mx.exchange.to_text()) == (10, "mx.mycompany.test.")
    assert [a.to_text() for a in resolver.resolve("mx.mycompany.test", "A")] == ["127.0.0.1"]
    (dmarc,) = list(resolver.resolve("_dmarc.mycompany.test", "TXT"))
    assert dmarc.strings == (b"v=DMARC1; p=reject;", b" rua=mailto:d@mycompany.test")

    # Names without records do not exist; nothing is forwarded anywhere.
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve("_dmarc.desk.test", "TXT")
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve("example.com", "A")

    # dkimpy verifies a signature against the key published through this server.
    message = mail("signed", sender="agent@mycompany.test", to="bob@customer.test")
    signature = dkim.sign(message, b"s1", b"mycompany.test", private_key)

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        records = resolver.resolve(name.decode().rstrip("."), "TXT")
        return b"".join(next(iter(records)).strings)

    assert dkim.verify(signature + message, dnsfunc=dnsfunc)

    # Records are replaced as a whole, on the same port.
    port = dns_server.port
    dns_server.set_records({"mycompany.test": {"TXT": ["v=spf1 -all"]}})
    assert dns_server.port == port
    assert [b"".join(r.strings) for r in resolver.resolve("mycompany.test", "TXT")] == [
        b"v=spf1 -all"
    ]
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve("s1._domainkey.desk.test", "TXT")
    assert "query[TXT] mycompany.test" in dns_server.logs()


def test_dns_server_rejects_bad_record_data(dns_server: DnsServer) -> None:
    with pytest.raises(ValueError, match="over 255 bytes"):
        dns_server.set_records({"x.test": {"TXT": [("a" * 256,)]}})
    with pytest.raises(ValueError, match="not supported"):
        dns_server.set_records({"x.test": {"SRV": ["0 0 25 mx.test"]}})
    # The running server kept its previous (empty) records.
    with pytest.raises(dns.resolver.NXDOMAIN):
        dns_server.resolver().resolve("x.test", "TXT")


# -- Dovecot --------------------------------------------------------------------------------


def test_dovecot_serves_appended_and_delivered_mail_over_imap(dovecot: DovecotInstance) -> None:
    user = "alice@mycompany.test"
    assert listens_only_on_loopback_address(dovecot.port)
    appended = mail("appended over IMAP", to=user)
    delivered = mail("delivered to Maildir", to=user)
    uid = dovecot.append(user, appended)
    dovecot.deliver(user, delivered)

    with imaplib.IMAP4(LOOPBACK, dovecot.port, timeout=10) as client:
        assert client.login(user, "secret")[0] == "OK"
        assert client.select("INBOX") == ("OK", [b"2"])
        search = client.uid("SEARCH", "ALL")[1][0]
        assert isinstance(search, bytes)
        uids = [int(u) for u in search.split()]
        assert uids[0] == uid and len(uids) == 2
        bodies = [client.uid("FETCH", str(each), "(BODY.PEEK[])")[1][0][1] for each in uids]
        assert bodies == [appended, delivered]
        status = client.status("INBOX", "(UIDVALIDITY UNSEEN)")[1][0]
        assert isinstance(status, bytes)
        assert b"UIDVALIDITY" in status and b"UNSEEN 2" in status

    with (
        imaplib.IMAP4(LOOPBACK, dovecot.port, timeout=10) as client,
        pytest.raises(imaplib.IMAP4.error),
    ):
        client.login(user, "wrong")
    assert f"Login: user=<{user}>" in dovecot.logs()


def test_dovecot_with_tls_serves_imaps_and_starttls(
    make_dovecot: Callable[..., DovecotInstance], tls_ca: Any
) -> None:
    server = make_dovecot(users={"help@mycompany.test": "app-password"}, tls=tls_ca)
    server.deliver("help@mycompany.test", mail("over TLS", to="help@mycompany.test"))
    assert server.imaps_port is not None

    with imaplib.IMAP4_SSL(
        LOOPBACK, server.imaps_port, ssl_context=server.ssl_context(), timeout=10
    ) as client:
        client.login("help@mycompany.test", "app-password")
        assert client.select("INBOX") == ("OK", [b"1"])

    with imaplib.IMAP4(LOOPBACK, server.port, timeout=10) as client:
        client.starttls(ssl_context=server.ssl_context())
        client.login("help@mycompany.test", "app-password")
        assert client.select("INBOX") == ("OK", [b"1"])

    # A client that does not trust the test CA refuses the certificate.
    with pytest.raises(ssl.SSLCertVerificationError):
        imaplib.IMAP4_SSL(
            LOOPBACK, server.imaps_port, ssl_context=ssl.create_default_context(), timeout=10
        )


# -- Chromium -------------------------------------------------------------------------------


PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Postdesk test page</title></head>
<body>
  <h1 id="title">Tickets</h1>
  <button id="solve" onclick="document.getElementById('status').textContent = 'Solved'">
    Solve
  </button>
  <p id="status">Open</p>
</body></html>
"""


class _PageHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer((LOOPBACK, 0), _PageHandler)
    thread = threading.Thread(target=partial(server.serve_forever, poll_interval=0.1))
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_chromium_renders_a_local_page_and_takes_a_screenshot(
    browser_page: Page, http_url: str, tmp_path: Path
) -> None:
    dialogs: list[str] = []
    browser_page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    response = browser_page.goto(http_url)
    assert response is not None and response.status == 200
    assert browser_page.title() == "Postdesk test page"
    browser_page.click("#solve")
    assert browser_page.inner_text("#status") == "Solved"

    shot = tmp_path / "page.png"
    browser_page.screenshot(path=str(shot))
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert shot.stat().st_size > 1000
    assert dialogs == []


# -- SMTP sink ------------------------------------------------------------------------------


def test_sink_scripted_refusals_as_smtplib_sees_them(smtp_sink: SmtpSink) -> None:
    def send(subject: str) -> dict[str, tuple[int, bytes]]:
        with smtplib.SMTP(LOOPBACK, smtp_sink.port, timeout=10) as client:
            return client.sendmail("agent@desk.test", ["bob@customer.test"], mail(subject))

    smtp_sink.fail("452 4.3.1 Insufficient system storage", at="mail", times=1)
    with pytest.raises(smtplib.SMTPSenderRefused) as sender_refused:
        send("mail refused")
    assert sender_refused.value.smtp_code == 452

    smtp_sink.fail("550 5.1.1 No such user", at="rcpt", times=1)
    with pytest.raises(smtplib.SMTPRecipientsRefused) as rcpt_refused:
        send("rcpt refused")
    assert rcpt_refused.value.recipients["bob@customer.test"][0] == 550

    smtp_sink.fail("451 4.3.0 Try again later", at="data", times=1)
    with pytest.raises(smtplib.SMTPDataError) as data_refused:
        send("data refused")
    assert data_refused.value.smtp_code == 451

    smtp_sink.fail("554 5.6.0 Message rejected", at="data")  # until accept_all()
    for _ in range(2):
        with pytest.raises(smtplib.SMTPDataError) as rejected:
            send("rejected")
        assert rejected.value.smtp_code == 554
    smtp_sink.accept_all()

    assert send("accepted") == {}
    (received,) = smtp_sink.wait_for(1, timeout=5)
    assert received["Subject"] == "accepted"
    assert [a.outcome for a in smtp_sink.attempts] == [
        "452 4.3.1 Insufficient system storage",
        "550 5.1.1 No such user",
        "451 4.3.0 Try again later",
        "554 5.6.0 Message rejected",
        "554 5.6.0 Message rejected",
        "accepted",
    ]
    with pytest.raises(ValueError, match="4xx or 5xx"):
        smtp_sink.fail("250 fine")


@pytest.mark.parametrize("at", ["body", "end"])
def test_sink_drops_the_connection_during_data(smtp_sink: SmtpSink, at: str) -> None:
    smtp_sink.drop(at=at, times=1)  # type: ignore[arg-type]
    with (
        pytest.raises((smtplib.SMTPServerDisconnected, ConnectionError)),
        smtplib.SMTP(LOOPBACK, smtp_sink.port, timeout=10) as client,
    ):
        client.sendmail("agent@desk.test", ["bob@customer.test"], mail("dropped"))
    assert smtp_sink.messages == []
    (attempt,) = smtp_sink.wait_for_attempts(1, timeout=5)
    assert attempt.outcome == f"dropped at {at}"
    if at == "end":
        assert attempt.data.endswith(b"Hello, this is about dropped.\r\n")

    # Only once: the next connection is accepted.
    with smtplib.SMTP(LOOPBACK, smtp_sink.port, timeout=10) as client:
        client.sendmail("agent@desk.test", ["bob@customer.test"], mail("again"))
    assert smtp_sink.wait_for(1, timeout=5)[0]["Subject"] == "again"


def test_sink_with_starttls_and_auth(make_smtp_sink: Callable[..., SmtpSink], tls_ca: Any) -> None:
    sink = make_smtp_sink(tls=tls_ca, require_starttls=True, credentials={"relay-user": "pw"})
    assert sink.relay_url == f"smtp://relay-user:pw@{LOOPBACK}:{sink.port}?starttls=1"
    context = ssl.create_default_context()
    tls_ca.configure_trust(context)

    # Neither AUTH nor MAIL before STARTTLS.
    with (
        smtplib.SMTP(LOOPBACK, sink.port, timeout=10) as client,
        pytest.raises(smtplib.SMTPSenderRefused),
    ):
        client.sendmail("agent@desk.test", ["bob@customer.test"], mail("plain"))

    with smtplib.SMTP(LOOPBACK, sink.port, timeout=10) as client:
        client.starttls(context=context)
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login("relay-user", "wrong")
    with smtplib.SMTP(LOOPBACK, sink.port, timeout=10) as client:
        client.starttls(context=context)
        client.login("relay-user", "pw")
        client.sendmail("agent@desk.test", ["bob@customer.test"], mail("secure"))

    (received,) = sink.wait_for(1, timeout=5)
    assert received.tls
    assert received.authenticated_as == "relay-user"
