"""Postdesk's configuration, read from ``POSTDESK_*`` environment variables (SPEC §4).

This module knows nothing of Django: ``settings.py`` and the thin ``postdesk deliver``
client both read it, and the client must start without importing Django.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit


class ConfigError(ValueError):
    """An environment variable holds a value Postdesk cannot use."""


@dataclass(frozen=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_host_port(value: str, *, name: str, default_host: str = "127.0.0.1") -> HostPort:
    """Parse ``host:port``, ``[v6]:port`` or ``:port``."""
    value = value.strip()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port_text = rest.lstrip(":")
    else:
        host, sep, port_text = value.rpartition(":")
        if not sep:
            raise ConfigError(f"{name} must be host:port, got {value!r}")
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"{name} has no valid port: {value!r}") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"{name} port out of range: {value!r}")
    return HostPort(host or default_host, port)


def database_from_url(url: str) -> dict[str, object]:
    """Turn ``postgresql://user:pass@host:port/db`` or ``sqlite:///path`` into a Django
    DATABASES entry."""
    parts = urlsplit(url)
    if parts.scheme in ("postgres", "postgresql", "pgsql"):
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ConfigError("POSTDESK_DATABASE_URL names no database")
        options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "OPTIONS": options,
        }
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        if url.startswith("sqlite:////"):
            path = "/" + path.lstrip("/")
        elif path.startswith("/"):
            path = path[1:]
        if not path:
            raise ConfigError("sqlite URL names no file")
        return sqlite_database(Path(path))
    raise ConfigError(f"POSTDESK_DATABASE_URL: unsupported scheme {parts.scheme!r}")


def sqlite_database(path: Path) -> dict[str, object]:
    # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock at BEGIN so
    # two writers queue on the busy timeout instead of failing with "database is locked"
    # halfway through a transaction; synchronous=FULL because an acknowledged mail must
    # survive a power cut, not only a crash.
    return {
        "ENGINE": "postdesk.db.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": (
                "PRAGMA journal_mode=WAL;"
                "PRAGMA synchronous=FULL;"
                "PRAGMA foreign_keys=ON;"
                "PRAGMA busy_timeout=30000;"
            ),
        },
    }


@dataclass(frozen=True)
class Config:
    data_dir: Path
    database_url: str | None
    mail_domain: str
    http: HostPort
    smtp: HostPort
    public_url: str
    relay: str
    dns_servers: tuple[str, ...]
    spf_include: str
    verification_timeout: int
    max_message_size: int
    debug: bool

    @property
    def system_address(self) -> str:
        return f"support@{self.mail_domain}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url is None or self.database_url.startswith("sqlite:")

    def database(self) -> dict[str, object]:
        if self.database_url:
            return database_from_url(self.database_url)
        return sqlite_database(self.data_dir / "postdesk.sqlite3")

    def secret_key(self) -> str:
        """The signing key: from the environment, else generated once into the data dir."""
        from_env = os.environ.get("POSTDESK_SECRET_KEY")
        if from_env:
            return from_env
        key_file = self.data_dir / "secret_key"
        try:
            return key_file.read_text().strip()
        except FileNotFoundError:
            pass
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        # O_EXCL: two processes starting at once must end up with the same key.
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return key_file.read_text().strip()
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
            handle.flush()
            os.fsync(handle.fileno())
        return key


def _int_env(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative")
    return value


def load(env: dict[str, str] | None = None) -> Config:
    env = dict(os.environ if env is None else env)
    data_dir = Path(env.get("POSTDESK_DATA_DIR") or "./var").resolve()
    mail_domain = (env.get("POSTDESK_MAIL_DOMAIN") or "postdesk.localhost").strip().lower()
    if not mail_domain or "@" in mail_domain or " " in mail_domain:
        raise ConfigError(f"POSTDESK_MAIL_DOMAIN is not a domain: {mail_domain!r}")
    http = parse_host_port(env.get("POSTDESK_HTTP") or "127.0.0.1:8000", name="POSTDESK_HTTP")
    smtp = parse_host_port(env.get("POSTDESK_SMTP") or "127.0.0.1:2525", name="POSTDESK_SMTP")
    public_url = (env.get("POSTDESK_PUBLIC_URL") or f"http://{http}").rstrip("/")
    dns = tuple(s.strip() for s in (env.get("POSTDESK_DNS") or "").split(",") if s.strip())
    return Config(
        data_dir=data_dir,
        database_url=env.get("POSTDESK_DATABASE_URL") or None,
        mail_domain=mail_domain,
        http=http,
        smtp=smtp,
        public_url=public_url,
        relay=env.get("POSTDESK_RELAY") or "outbox:",
        dns_servers=dns,
        spf_include=env.get("POSTDESK_SPF_INCLUDE") or f"_spf.{mail_domain}",
        verification_timeout=_int_env(env, "POSTDESK_VERIFICATION_TIMEOUT", 1800),
        max_message_size=_int_env(env, "POSTDESK_MAX_MESSAGE_SIZE", 50 * 1024 * 1024),
        debug=env.get("POSTDESK_DEBUG", "") in ("1", "true", "yes"),
    )
