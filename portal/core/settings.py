"""The one configuration object: every `PORTAL_*` variable, read once and passed down."""

from __future__ import annotations

import ipaddress
import json
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from portal.core.i18n import LANGUAGES, available_languages
from portal.core.localtime import load_zone

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    host = host.strip("[]").lower()
    if host in LOOPBACK_HOSTS or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SettingsError(ValueError):
    """Configuration that cannot run; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PORTAL_", env_file=".env", extra="ignore")

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path("./data")
    database_url: str = "sqlite://./data/portal.sqlite3"
    smtp_url: str | None = None
    mail_from: str = "Личный кабинет <no-reply@localhost>"
    public_url: str = "http://127.0.0.1:8000"
    secret_key: str | None = None
    redis_url: str | None = None
    cors_origins: str | None = None
    default_region: str = "RU"
    timezone: str = "Europe/Moscow"  # IANA zone of every time shown to a person (stored times stay UTC)
    languages: str = ",".join(LANGUAGES)  # offered languages, each a catalogue in core/locale; the first is the default
    password_min_length: int = Field(default=12, ge=8)
    password_max_length: int = Field(default=256, ge=64, le=4096)
    reset_token_ttl: int = Field(default=1800, ge=60)
    oidc_providers: str | None = None
    allowed_return_urls: str | None = None
    trusted_proxies: str | None = None

    # Sessions: a short access token, a rotating refresh token, an absolute limit.
    access_token_ttl: int = Field(default=900, ge=30)
    refresh_token_ttl: int = Field(default=14 * 24 * 3600, ge=60)
    session_max_age: int = Field(default=30 * 24 * 3600, ge=60)
    # The browser's one session cookie ends after this long without a request (and at session_max_age).
    session_idle_timeout: int = Field(default=24 * 3600, ge=60)

    # Argon2id: OWASP's minimum (m=19 MiB, t=2, p=1); raise here, old hashes are upgraded at sign-in.
    argon2_memory_kib: int = Field(default=19456, ge=19456)
    argon2_time_cost: int = Field(default=2, ge=2)
    argon2_parallelism: int = Field(default=1, ge=1)
    hash_concurrency: int | None = None  # threads for hashing; default: one per core

    deliver_mail_in_process: bool = True

    # Abuse resistance (identity/throttle.py, api/graphql.py): see README "Throttling and limits".
    redis_key_prefix: str = "portal:"  # several deployments may share one Redis
    signin_client_max_failures: int = Field(default=100, ge=1)  # per client address per 10 minutes
    request_timeout: float = Field(default=30.0, gt=0)  # seconds for reading a request and running it
    audit_retention_days: int = Field(default=365, ge=1)

    # Operations (docs/operations.md): metrics never on the public port, logs an aggregator can read.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)  # unset: no metrics served
    metrics_host: str = "127.0.0.1"
    log_format: Literal["text", "json"] = "text"
    throttle_max_keys: int = Field(default=100_000, ge=100)  # in-process throttle keys (per process)
    unavailable_retry_after: int = Field(default=5, ge=1)  # Retry-After of a 503 while the database is away
    # How long a worker's claim on a letter holds before another worker takes it over (renewed per letter
    # just before it is sent, so it must exceed one send: the SMTP timeout is 30 s).
    mail_lease_seconds: int = Field(default=120, ge=5)

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("default_region")
    @classmethod
    def _region_upper(cls, value: str) -> str:
        return value.upper()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        load_zone(value)  # ValueError -> "PORTAL_TIMEZONE: ..." at start-up, not at the first page
        return value

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, value: str) -> str:
        codes = _split(value)
        missing = [code for code in codes if code not in available_languages()]
        if not codes or missing:
            raise ValueError(f"no catalogue for {', '.join(missing) or 'an empty list'} (see docs/translations.md)")
        return ",".join(codes)

    @model_validator(mode="after")
    def _production_rules(self) -> Settings:
        parts = urlsplit(self.public_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError("PORTAL_PUBLIC_URL must be an absolute http(s) URL")
        if self.env == "production":
            if not self.secret_key or len(self.secret_key) < 32:
                raise SettingsError(
                    "PORTAL_SECRET_KEY is required in production (at least 32 characters; "
                    "for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
                )
            if parts.scheme != "https" and not is_loopback_host(parts.hostname):
                raise SettingsError("PORTAL_PUBLIC_URL must use https:// in production (plain http only on loopback)")
        return self

    @property
    def production(self) -> bool:
        return self.env == "production"

    @cached_property
    def zone(self) -> ZoneInfo:
        return load_zone(self.timezone)

    @cached_property
    def language_list(self) -> tuple[str, ...]:
        """PORTAL_LANGUAGES as a tuple: what negotiation, the language switch and letters may use."""
        return tuple(_split(self.languages))

    @cached_property
    def public_origin(self) -> str:
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://{parts.netloc}".lower()

    @cached_property
    def on_loopback(self) -> bool:
        return is_loopback_host(urlsplit(self.public_url).hostname)

    @cached_property
    def secure_cookies(self) -> bool:
        """`Secure` and `__Host-` cookies everywhere but a plain-http loopback development setup."""
        return not (self.on_loopback and self.public_url.startswith("http://"))

    @cached_property
    def cors_origin_list(self) -> list[str]:
        return _split(self.cors_origins)

    @cached_property
    def allowed_return_url_list(self) -> list[str]:
        return _split(self.allowed_return_urls)

    @cached_property
    def trusted_proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        try:
            return [ipaddress.ip_network(item, strict=False) for item in _split(self.trusted_proxies)]
        except ValueError as exc:
            raise SettingsError(f"PORTAL_TRUSTED_PROXIES: {exc}") from exc

    @cached_property
    def secret(self) -> bytes:
        """The signing secret: configured, or generated once into the data folder in development."""
        if self.secret_key:
            return self.secret_key.encode()
        path = self.data_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip().encode()


def _split(value: str | None) -> list[str]:
    if not value:
        return []
    value = value.strip()
    if value.startswith("["):
        return [str(item).strip() for item in json.loads(value) if str(item).strip()]
    return [item.strip() for item in value.split(",") if item.strip()]


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except SettingsError:
        raise
    except ValueError as exc:  # pydantic's ValidationError: say which variable
        raise SettingsError(_explain(exc)) from exc


def _explain(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    lines = []
    for err in errors():
        loc = "_".join(str(p) for p in err.get("loc", ()))
        name = f"PORTAL_{loc.upper()}" if loc else "configuration"
        msg = str(err.get("msg", ""))
        inner = err.get("ctx", {}).get("error") if isinstance(err.get("ctx"), dict) else None
        lines.append(f"{name}: {inner or msg}")
    return "; ".join(lines)
