"""The one configuration object: every `PORTAL_*` variable, read once and passed down."""

from __future__ import annotations

import ipaddress
import json
import re
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

    env: Literal["development", "production"] = Field(
        default="development",
        description='`production` turns off GraphiQL, introspection and "did you mean" hints, sends HSTS, '
        "and refuses to start without a real `PORTAL_SECRET_KEY` or with a plain-http public URL off loopback.",
    )
    data_dir: Path = Field(
        default=Path("./data"),
        description="Folder for the development secret (`secret_key`) and, without `PORTAL_SMTP_URL`, "
        "the letters (`mail/*.eml`).",
    )
    database_url: str = Field(
        default="sqlite://./data/portal.sqlite3",
        description="Tortoise database URL; `postgres://user:pass@host:5432/db` for production.",
    )
    smtp_url: str | None = Field(
        default=None,
        description="`smtp://[user:pass@]host:port` (opportunistic STARTTLS), `smtp+starttls://…` or `smtps://…`; "
        "unset: letters are written to `<data_dir>/mail/*.eml` and every link is logged.",
    )
    mail_from: str = Field(default="Личный кабинет <no-reply@localhost>", description="The `From:` of every letter.")
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base of every link in mail, of cookie names and origins, and the OpenID issuer; "
        "`https://` in production (plain http only on loopback).",
    )
    secret_key: str | None = Field(
        default=None,
        description="Signing and token hashing, the same on every replica; at least 32 characters in production. "
        "Unset: generated once into `<data_dir>/secret_key` (development only).",
    )
    redis_url: str | None = Field(
        default=None,
        description="Shared rate limits and caches when several replicas run (`redis://host:6379/0`); "
        "unset: in-process state.",
    )
    cors_origins: str | None = Field(
        default=None,
        description="Origins (comma-separated or a JSON list) allowed to call `/graphql` from a browser with "
        "the session cookie; unset: the public URL's origin only.",
    )
    default_region: str = Field(
        default="RU", description="How phone numbers without a country code are read (ISO 3166 region)."
    )
    timezone: str = Field(
        default="Europe/Moscow",
        description="IANA zone of every time shown to a person (pages, letters); checked at start-up; "
        "stored times and APIs stay UTC.",
    )
    languages: str = Field(
        default=",".join(LANGUAGES),
        description="Languages offered, comma-separated, each a catalogue in `portal/core/locale/`; "
        "the first is the default.",
    )
    password_min_length: int = Field(default=12, ge=8, description="Shortest password accepted.")
    password_max_length: int = Field(
        default=256, ge=64, le=4096, description="Longest password accepted; longer ones are refused before any hash."
    )
    reset_token_ttl: int = Field(default=1800, ge=60, description="Seconds a mailed reset link stays valid.")
    staff_second_factor: Literal["auto", "required", "optional"] = Field(
        default="auto",
        description="Whether staff need a second factor (an authenticator app or a passkey) before the desk opens; "
        "`auto`: required in production, optional in development.",
    )
    oidc_providers: str | None = Field(
        default=None,
        description="Identity providers for federated sign-in: a path to a `.toml` or `.json` file, or inline JSON; "
        "unset: no federated sign-in.",
    )
    allowed_return_urls: str | None = Field(
        default=None,
        description="Comma-separated URLs (mobile app schemes, web clients) federated sign-in may return to; "
        "an entry ending in `/` admits every URL under it. Unset: the portal's own origin only.",
    )
    trusted_proxies: str | None = Field(
        default=None,
        description="Comma-separated addresses or networks whose `X-Forwarded-For` names the real client "
        "(throttling, audit); unset: the client is the socket's peer.",
    )

    access_token_ttl: int = Field(default=900, ge=30, description="Seconds an access token lives.")
    refresh_token_ttl: int = Field(
        default=14 * 24 * 3600,
        ge=60,
        description="Seconds a refresh token lives (it rotates on every use): the idle timeout of a session.",
    )
    session_max_age: int = Field(
        default=30 * 24 * 3600,
        ge=60,
        description="Absolute lifetime of a session (and of a partner's token family) in seconds, "
        "whatever the refreshes.",
    )
    session_idle_timeout: int = Field(
        default=24 * 3600, ge=60,
        description="Seconds without a request after which the browser's session cookie ends (and always at "
        "the session's absolute lifetime).",
    )

    argon2_memory_kib: int = Field(
        default=19456,
        ge=19456,
        description="Argon2id memory in KiB (OWASP's minimum); raise it and old hashes are upgraded at sign-in.",
    )
    argon2_time_cost: int = Field(default=2, ge=2, description="Argon2id iterations.")
    argon2_parallelism: int = Field(default=1, ge=1, description="Argon2id lanes.")
    hash_concurrency: int | None = Field(
        default=None, description="Password hashes computed at once (threads); unset: one per core."
    )

    deliver_mail_in_process: bool = Field(
        default=True,
        description="`portal serve` delivers letters itself; `false` when `portal worker` processes do it.",
    )

    redis_key_prefix: str = Field(
        default="portal:", description="Prefix of every Redis key, so several deployments may share one Redis."
    )
    session_cache: bool = Field(
        default=True,
        description="Keep the sessions that requests read in each process. PostgreSQL: dropped the moment any "
        "replica changes them (triggers and LISTEN/NOTIFY; off while that channel is down). SQLite: served again "
        "only while nothing at all was committed to the file since the read (PRAGMA data_version).",
    )
    mutations_per_client_per_minute: int = Field(
        default=600, ge=1,
        description="Calls of one GraphQL mutation field allowed per client address per minute (a door's own "
        "stricter limits apply inside it). Raise it when many residents share one address the proxy cannot tell apart.",
    )
    signin_client_max_failures: int = Field(
        default=100, ge=1, description="Failed sign-ins allowed per client address per 10 minutes."
    )
    request_timeout: float = Field(
        default=30.0, gt=0, description="Seconds for reading a request body and, separately, for running it."
    )
    audit_retention_days: int = Field(
        default=365, ge=1, description="Days the security log keeps an event; `portal audit prune` removes older ones."
    )

    # Residents join (docs/registry.md).
    invitation_letters_per_minute: int = Field(
        default=120, ge=1, le=100_000,
        description="Invitation letters per minute handed to the mail server (a large batch trickles out).",
    )
    signin_by_personal_account: bool = Field(
        default=False, description="Let a resident sign in with a personal account number (лицевой счёт)."
    )
    personal_account_pattern: str = Field(
        default=r"(?:лс|л/с|ls)\s*№?\s*(?P<prefixed>[0-9a-z/-]{1,32})|(?P<short>\d{4,9})",
        description="How a personal account number is told from a phone number at sign-in: a regular expression "
        "whose first matching named group is the number.",
    )

    # Operations (docs/operations.md): metrics never on the public port, logs an aggregator can read.
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="Serve Prometheus metrics at /metrics on this port (unset: none)."
    )
    metrics_host: str = Field(default="127.0.0.1", description="Address the metrics port binds to.")
    log_format: Literal["text", "json"] = Field(
        default="text", description="`json`: one JSON object per log line, with request id and client address."
    )
    throttle_max_keys: int = Field(
        default=100_000, ge=100, description="Most keys the in-process throttle holds (per process); the oldest go."
    )
    unavailable_retry_after: int = Field(
        default=5, ge=1, description="Retry-After seconds of a 503 answered while the database is away."
    )
    mail_lease_seconds: int = Field(
        default=120, ge=5,
        description="Seconds a worker's claim on a letter holds before another worker takes it over (renewed "
        "per letter just before sending; must exceed one send, the SMTP timeout being 30 s).",
    )

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

    @field_validator("personal_account_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        re.compile(value)  # re.error is a ValueError: "PORTAL_PERSONAL_ACCOUNT_PATTERN: ..." at start-up
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

    @property
    def staff_need_second_factor(self) -> bool:
        return self.staff_second_factor == "required" or (self.staff_second_factor == "auto" and self.production)

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
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        try:
            return tuple(ipaddress.ip_network(item, strict=False) for item in _split(self.trusted_proxies))
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
