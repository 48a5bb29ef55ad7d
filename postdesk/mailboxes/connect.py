"""Log in to an IMAP server: implicit TLS, STARTTLS or (only if asked) none.

Certificates are verified against the system trust store, with the host name checked. A
server whose certificate comes from a private CA is trusted by pointing
``POSTDESK_IMAP_CAFILE`` at that CA's PEM file (it replaces the system store for IMAP only).

Every failure becomes a ``ConnectError`` with words for an admin and a ``reason`` a caller
can act on (``unreachable``, ``tls``, ``login``, ``folder``, ``protocol``; ``secret`` when a
stored secret no longer opens, see ``poll.credentials_of``).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from postdesk.mailboxes.models import SecretKind, TlsMode

CAFILE_ENV = "POSTDESK_IMAP_CAFILE"
TIMEOUT = 30.0


class ConnectError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    tls: str
    username: str
    folder: str = "INBOX"


@dataclass(frozen=True)
class Credentials:
    kind: str  # SecretKind
    secret: str

    def __repr__(self) -> str:  # never in a log or a traceback
        return f"Credentials(kind={self.kind!r}, secret=<hidden>)"


def default_port(tls: str) -> int:
    return 993 if tls == TlsMode.SSL else 143


def ssl_context() -> ssl.SSLContext:
    cafile = os.environ.get(CAFILE_ENV) or None
    return ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)


def _tls_error(server: Server, exc: Exception) -> ConnectError:
    hint = ""
    if isinstance(exc, ssl.SSLCertVerificationError):
        hint = f" (a private CA can be trusted with {CAFILE_ENV}=/path/to/ca.pem)"
    return ConnectError("tls", f"TLS with {server.host}:{server.port} failed: {exc}{hint}")


def _open(server: Server, timeout: float) -> IMAPClient:
    implicit = server.tls == TlsMode.SSL
    try:
        return IMAPClient(
            server.host,
            port=server.port,
            ssl=implicit,
            ssl_context=ssl_context() if implicit else None,
            timeout=timeout,
        )
    except ssl.SSLError as exc:
        raise _tls_error(server, exc) from exc
    except OSError as exc:  # refused, no route, DNS, timeout
        raise ConnectError(
            "unreachable", f"can't reach {server.host}:{server.port}: {exc}"
        ) from exc
    except IMAPClientError as exc:
        raise ConnectError("protocol", f"{server.host}:{server.port}: {exc}") from exc


def _login(client: IMAPClient, server: Server, credentials: Credentials) -> None:
    if server.tls == TlsMode.STARTTLS:
        try:
            client.starttls(ssl_context())
        except ssl.SSLError as exc:
            raise _tls_error(server, exc) from exc
        except IMAPClientError as exc:
            raise ConnectError(
                "tls", f"{server.host}:{server.port} refused STARTTLS: {exc}"
            ) from exc
    try:
        if credentials.kind == SecretKind.OAUTH2:
            client.oauth2_login(server.username, credentials.secret)
        else:
            client.login(server.username, credentials.secret)
    except LoginError as exc:
        raise ConnectError(
            "login", f"login as {server.username} at {server.host} failed: {exc}"
        ) from exc


def select(client: IMAPClient, server: Server) -> dict[bytes, object]:
    """Open the folder read-only (EXAMINE): reading never changes a flag on the server."""
    try:
        return client.select_folder(server.folder, readonly=True)  # type: ignore[no-any-return]
    except IMAPClientError as exc:
        raise ConnectError(
            "folder", f"can't open folder {server.folder!r} of {server.username}: {exc}"
        ) from exc


def uidvalidity_of(server: Server, status: dict[bytes, object]) -> int:
    """The selected folder's ``UIDVALIDITY``; a server that sends none or garbage is a
    ``ConnectError`` (reason ``protocol``), never a KeyError deep in a poll."""
    value = status.get(b"UIDVALIDITY")
    if isinstance(value, int) and value > 0:
        return value
    raise ConnectError(
        "protocol", f"{server.host} gave no usable UIDVALIDITY for {server.folder!r}: {value!r}"
    )


@contextmanager
def session(
    server: Server, credentials: Credentials, *, timeout: float = TIMEOUT
) -> Iterator[IMAPClient]:
    """A logged-in client; logged out (or its socket closed) on the way out."""
    client = _open(server, timeout)
    try:
        try:
            _login(client, server, credentials)
        except (OSError, IMAPClientError) as exc:  # the connection dropped mid-way
            raise ConnectError("protocol", f"{server.host}:{server.port}: {exc}") from exc
        yield client
    finally:
        try:
            client.logout()
        except Exception:
            # Already broken: closing the socket is all that is left to do.
            with suppress(Exception):
                client.shutdown()
