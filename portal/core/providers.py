"""The operator's identity providers (`PORTAL_OIDC_PROVIDERS`), checked once at start-up.

The value is a path to a TOML or JSON file, or inline JSON: a list of providers (or a table/object with a
`providers` list), each with `id`, `name`, `issuer`, `client_id`, `client_secret` and optional `scopes`.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from portal.core.settings import SettingsError, is_loopback_host

VARIABLE = "PORTAL_OIDC_PROVIDERS"
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
DEFAULT_SCOPES = ("openid", "email", "profile")
FIELDS = ("id", "name", "issuer", "client_id", "client_secret", "scopes")


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    id: str  # in the callback path, in `startFederatedSignIn(provider:)` and in `LinkedIdentity.provider`
    name: str  # what the sign-in button says
    issuer: str  # exactly as the provider's discovery document and ID tokens say it
    client_id: str
    client_secret: str
    scopes: tuple[str, ...] = DEFAULT_SCOPES

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"


def load_providers(value: str | None) -> dict[str, ProviderConfig]:
    """The providers by id, in configured order; a `SettingsError` naming the field when anything is off."""
    if value is None or not value.strip():
        return {}
    raw = _read(value.strip())
    if isinstance(raw, dict):
        raw = raw.get("providers", raw.get("provider"))
    if not isinstance(raw, list):
        raise SettingsError(f"{VARIABLE}: expected a list of providers (or a `providers` list)")
    providers: dict[str, ProviderConfig] = {}
    for index, item in enumerate(raw):
        provider = _provider(index, item)
        if provider.id in providers:
            raise SettingsError(f"{VARIABLE}: providers[{index}].id: {provider.id!r} is configured twice")
        providers[provider.id] = provider
    return providers


def _read(value: str) -> Any:
    if value.startswith(("[", "{")):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise SettingsError(f"{VARIABLE}: inline JSON is not valid: {exc}") from exc
    path = Path(value)
    if not path.is_file():
        raise SettingsError(f"{VARIABLE}: no such file: {value}")
    try:
        if path.suffix.lower() == ".toml":
            return tomllib.loads(path.read_text(encoding="utf-8"))
        if path.suffix.lower() == ".json":
            return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise SettingsError(f"{VARIABLE}: {value}: {exc}") from exc
    raise SettingsError(f"{VARIABLE}: {value}: the file must end in .toml or .json")


def _provider(index: int, item: object) -> ProviderConfig:
    where = f"{VARIABLE}: providers[{index}]"
    if not isinstance(item, dict):
        raise SettingsError(f"{where}: expected a table/object with {', '.join(FIELDS)}")
    unknown = sorted(set(item) - set(FIELDS))
    if unknown:
        raise SettingsError(f"{where}.{unknown[0]}: unknown field (expected {', '.join(FIELDS)})")

    def text(field: str) -> str:
        value = item.get(field)
        if not isinstance(value, str) or not value.strip():
            raise SettingsError(f"{where}.{field}: required, a non-empty string")
        return value.strip()

    provider_id = text("id")
    if not ID_PATTERN.match(provider_id):
        raise SettingsError(f"{where}.id: {provider_id!r} must be 1-32 of a-z, 0-9, '-', '_' (it is part of a URL)")
    issuer = text("issuer")
    parts = urlsplit(issuer)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise SettingsError(f"{where}.issuer: must be an absolute https:// URL without query or fragment")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise SettingsError(f"{where}.issuer: must use https:// (plain http only on a loopback host)")
    scopes_raw = item.get("scopes", list(DEFAULT_SCOPES))
    if isinstance(scopes_raw, str):
        scopes_raw = scopes_raw.split()
    if not isinstance(scopes_raw, list) or not all(isinstance(s, str) and s.strip() for s in scopes_raw):
        raise SettingsError(f"{where}.scopes: must be a list of scope names")
    scopes = tuple(dict.fromkeys(s.strip() for s in scopes_raw))
    if "openid" not in scopes:
        raise SettingsError(f"{where}.scopes: must include 'openid'")
    return ProviderConfig(
        id=provider_id,
        name=text("name"),
        issuer=issuer,
        client_id=text("client_id"),
        client_secret=text("client_secret"),
        scopes=scopes,
    )


class ProviderUnavailable(Exception):
    """Discovery or key retrieval failed, or the provider's metadata contradicts its configuration."""


METADATA_TTL = 3600.0  # seconds a discovery document is trusted before it is fetched again
JWKS_TTL = 3600.0
JWKS_REFRESH_MIN_INTERVAL = 30.0  # an unknown `kid` refetches the keys at most this often
HTTP_TIMEOUT = 10.0


class Providers:
    """The configured providers plus their discovery documents and key sets, fetched lazily and cached."""

    def __init__(self, configs: dict[str, ProviderConfig]) -> None:
        self.configs = configs
        self._metadata: dict[str, tuple[float, dict[str, Any]]] = {}
        self._jwks: dict[str, tuple[float, dict[str, Any]]] = {}

    def get(self, provider_id: str) -> ProviderConfig | None:
        return self.configs.get(provider_id)

    def name_of(self, provider_id: str) -> str:
        config = self.configs.get(provider_id)
        return config.name if config else provider_id

    async def metadata(self, provider: ProviderConfig, now: float) -> dict[str, Any]:
        cached = self._metadata.get(provider.id)
        if cached and now - cached[0] < METADATA_TTL:
            return cached[1]
        document = await _get_json(provider.discovery_url)
        if document.get("issuer") != provider.issuer:
            raise ProviderUnavailable(
                f"{provider.id}: discovery says issuer {document.get('issuer')!r}, configured {provider.issuer!r}"
            )
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(document.get(key), str):
                raise ProviderUnavailable(f"{provider.id}: discovery document has no {key}")
        self._metadata[provider.id] = (now, document)
        return document

    async def jwks(self, provider: ProviderConfig, now: float, *, refresh: bool = False) -> dict[str, Any]:
        """The provider's key set; `refresh` (an unknown `kid`) refetches unless that happened moments ago."""
        cached = self._jwks.get(provider.id)
        if cached:
            age = now - cached[0]
            if (not refresh and age < JWKS_TTL) or (refresh and age < JWKS_REFRESH_MIN_INTERVAL):
                return cached[1]
        metadata = await self.metadata(provider, now)
        key_set = await _get_json(str(metadata["jwks_uri"]))
        if not isinstance(key_set.get("keys"), list):
            raise ProviderUnavailable(f"{provider.id}: jwks_uri did not return a key set")
        self._jwks[provider.id] = (now, key_set)
        return key_set


async def _get_json(url: str) -> dict[str, Any]:
    import httpx

    try:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False) as client:
            response = await client.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            document = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ProviderUnavailable(f"{url}: {exc}") from exc
    if not isinstance(document, dict):
        raise ProviderUnavailable(f"{url}: not a JSON object")
    return document
