"""The ``smtp://`` relay: ``smtplib`` to the MTA that sends the desk's mail out.

``smtp://[user:pass@]host:port[?starttls=1][&cafile=/path/ca.pem]`` talks plain SMTP and,
with ``starttls=1``, upgrades with STARTTLS (RFC 3207) verifying the server's certificate
against the system trust store or ``cafile``; ``smtps://`` is implicit TLS (RFC 8314).
Credentials, if given, are used with AUTH (RFC 4954) only after TLS unless the relay is on
the loopback interface, so a password never crosses a network in clear.

Each transaction is driven step by step (MAIL, RCPT per recipient, DATA) rather than with
``sendmail()`` so that every recipient gets the relay's own reply. A connection that fails
or is reset before the final reply to DATA raises :class:`RelayUnavailable`: SMTP gives no
acceptance without that reply (RFC 5321 4.1.1.4), so the mail is tried again later. If the
relay did accept it and only the reply was lost, that retry is the one duplicate SMTP makes
unavoidable (RFC 1047); the same Message-ID lets the receiving side drop it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import smtplib
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

from postdesk.outbound.relays import Relay, RelayError, RelaySession, RelayUnavailable, Reply

TIMEOUT = 30.0
_TRUE = ("1", "yes", "true", "on")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _reply(code: int, message: bytes | str) -> Reply:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return Reply(code, " ".join(text.split()))


class _SmtpSession(RelaySession):
    def __init__(self, client: smtplib.SMTP) -> None:
        self.client = client

    def send(
        self, mail_from: str, recipients: Sequence[str], data: bytes, *, smtputf8: bool = False
    ) -> dict[str, Reply]:
        client = self.client
        try:
            return self._transaction(client, mail_from, recipients, data, smtputf8)
        except smtplib.SMTPServerDisconnected as error:
            raise RelayUnavailable(f"the relay closed the connection: {error}") from error
        except (OSError, smtplib.SMTPException) as error:
            raise RelayUnavailable(f"the connection to the relay failed: {error}") from error

    @staticmethod
    def _transaction(
        client: smtplib.SMTP,
        mail_from: str,
        recipients: Sequence[str],
        data: bytes,
        smtputf8: bool,
    ) -> dict[str, Reply]:
        options: list[str] = []
        if smtputf8:
            if not client.has_extn("smtputf8"):
                refused = Reply(553, "5.6.7 the relay does not offer SMTPUTF8")
                return dict.fromkeys(recipients, refused)
            options = ["SMTPUTF8", "BODY=8BITMIME"]
        code, message = client.mail(mail_from, options)
        if code != 250:
            client.rset()
            return dict.fromkeys(recipients, _reply(code, message))
        replies: dict[str, Reply] = {}
        for recipient in recipients:
            code, message = client.rcpt(recipient)
            replies[recipient] = _reply(code, message)
        accepted = [r for r, reply in replies.items() if reply.accepted]
        if not accepted:
            client.rset()
            return replies
        try:
            final = _reply(*client.data(data))
        except smtplib.SMTPDataError as error:
            # smtplib raises for a refused DATA command (before the body is sent).
            final = _reply(error.smtp_code, error.smtp_error)
            client.rset()
        for recipient in accepted:
            replies[recipient] = final
        return replies


@dataclass(frozen=True)
class SmtpRelay(Relay):
    scheme: ClassVar[str] = "smtp"
    host: str
    port: int
    username: str = ""
    password: str = field(default="", repr=False)
    starttls: bool = False
    implicit_tls: bool = False
    cafile: str | None = None
    timeout: float = TIMEOUT
    local_hostname: str | None = None

    @classmethod
    def from_url(cls, url: str) -> SmtpRelay:
        parts = urlsplit(url.strip())
        if not parts.hostname:
            raise RelayError(f"POSTDESK_RELAY names no host: {url!r}")
        try:
            port = parts.port
        except ValueError as error:
            raise RelayError(f"POSTDESK_RELAY has an invalid port: {url!r}") from error
        implicit = parts.scheme.lower() == "smtps"
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        unknown = set(query) - {"starttls", "cafile", "timeout"}
        if unknown:
            raise RelayError(f"POSTDESK_RELAY: unknown option(s) {sorted(unknown)}")
        return cls(
            host=parts.hostname,
            port=port or (465 if implicit else 25),
            username=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            starttls=query.get("starttls", "").lower() in _TRUE,
            implicit_tls=implicit,
            cafile=query.get("cafile") or None,
            timeout=float(query.get("timeout", TIMEOUT)),
        )

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.cafile)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def _connect(self) -> smtplib.SMTP:
        client: smtplib.SMTP
        if self.implicit_tls:
            client = smtplib.SMTP_SSL(
                self.host,
                self.port,
                timeout=self.timeout,
                context=self._tls_context(),
                local_hostname=self.local_hostname,
            )
        else:
            client = smtplib.SMTP(
                self.host, self.port, timeout=self.timeout, local_hostname=self.local_hostname
            )
        try:
            client.ehlo()
            if self.starttls:
                client.starttls(context=self._tls_context())
                client.ehlo()
            if self.username:
                encrypted = self.starttls or self.implicit_tls
                if not encrypted and not _is_loopback(self.host):
                    raise RelayError("refusing to send the relay password without TLS")
                client.login(self.username, self.password)
        except BaseException:
            client.close()
            raise
        return client

    @contextlib.contextmanager
    def session(self) -> Iterator[RelaySession]:
        try:
            client = self._connect()
        except smtplib.SMTPAuthenticationError as error:
            raise RelayUnavailable(f"the relay refused our login: {error.smtp_code}") from error
        except (TimeoutError, OSError, smtplib.SMTPException, ssl.SSLError) as error:
            raise RelayUnavailable(
                f"cannot reach the relay {self.host}:{self.port}: {error}"
            ) from error
        try:
            yield _SmtpSession(client)
        finally:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                client.quit()
            client.close()
