"""Operators' and residents' side of partner sign-on: registering clients, consents, revoking tokens."""

from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from joserfc import jwt

from portal.core.runtime import Runtime
from portal.core.settings import is_loopback_host
from portal.core.tokens import new_token
from portal.identity.provider.keys import keyring_for
from portal.identity.provider.notices import enqueue_notices
from portal.identity.provider.server import CLIENT_SECRET, pairwise_sub
from portal.models.provider import Consent, OidcClient, PartnerGrant

log = logging.getLogger("portal.oidc")

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


class ClientProblem(ValueError):
    """A registration the provider refuses; the message names the option."""


@dataclass(frozen=True)
class NewClient:
    client: OidcClient
    secret: str | None  # shown once; only its hash is stored


def check_uri(uri: str, option: str) -> str:
    """An absolute https URL without a fragment (plain http only on a loopback host, for development)."""
    parts = urlsplit(uri)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.fragment or "#" in uri:
        raise ClientProblem(f"{option}: {uri!r} must be an absolute https:// URL without a fragment")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ClientProblem(f"{option}: {uri!r} must use https:// (plain http only on a loopback host)")
    if any(ord(c) < 33 for c in uri):
        raise ClientProblem(f"{option}: {uri!r} contains spaces or control characters")
    return uri


async def add_client(
    rt: Runtime,
    *,
    name: str,
    redirect_uris: list[str],
    public: bool = False,
    first_party: bool = False,
    post_logout_redirect_uris: list[str] | None = None,
    backchannel_logout_uri: str | None = None,
    id_token_alg: str = "RS256",  # noqa: S107 - an algorithm name, not a secret
    allowed_origins: list[str] | None = None,
) -> NewClient:
    name = " ".join(name.split())
    if not name or len(name) > 200:
        raise ClientProblem("--name: 1 to 200 characters")
    if not redirect_uris:
        raise ClientProblem("--redirect-uri: at least one is required")
    if id_token_alg not in ("RS256", "ES256"):
        raise ClientProblem("--id-token-alg: RS256 or ES256")
    uris = [check_uri(u, "--redirect-uri") for u in redirect_uris]
    logout_uris = [check_uri(u, "--post-logout-redirect-uri") for u in post_logout_redirect_uris or []]
    backchannel = check_uri(backchannel_logout_uri, "--backchannel-logout-uri") if backchannel_logout_uri else None
    origins = [check_origin(o) for o in allowed_origins or []]
    if origins and not public:
        raise ClientProblem("--allowed-origin: only for a --public client (a browser cannot keep a secret)")
    secret = None if public else new_token()
    client = await OidcClient.create(
        id=secrets.token_urlsafe(18),
        name=name,
        secret_hash=rt.tokens.digest(CLIENT_SECRET, secret) if secret else None,
        redirect_uris=uris,
        post_logout_redirect_uris=logout_uris,
        backchannel_logout_uri=backchannel,
        allowed_origins=origins,
        first_party=first_party,
        id_token_alg=id_token_alg,
        created_at=rt.clock.now(),
    )
    return NewClient(client, secret)


def check_origin(origin: str) -> str:
    """`scheme://host[:port]`, nothing more, by the same rules as a redirect URI."""
    check_uri(origin, "--allowed-origin")
    parts = urlsplit(origin)
    if parts.path not in ("", "/") or parts.query or parts.username or parts.password:
        raise ClientProblem(f"--allowed-origin: {origin!r} must be an origin: scheme://host[:port], no path")
    return f"{parts.scheme}://{parts.netloc}".lower()


def origin_of(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}".lower()


async def browser_origins() -> set[str]:
    """Origins whose pages may call the provider's endpoints without credentials (CORS): those of every public
    client's redirect URIs, and those registered with `--allowed-origin`. Read per request, so a client added
    by `portal oidc-clients add` counts at once on every replica."""
    rows = await OidcClient.filter(secret_hash__isnull=True).values_list("redirect_uris", "allowed_origins")
    return {origin_of(uri) for uris, extra in rows for uri in [*uris, *extra]}


async def list_clients() -> list[OidcClient]:
    return await OidcClient.all().order_by("created_at")


async def remove_client(client_id: str) -> bool:
    """Deletes the client with its codes, tokens and consents: its residents are signed out of it at once."""
    return bool(await OidcClient.filter(id=client_id).delete())


@dataclass(frozen=True)
class GrantedConsent:
    client_id: str
    client_name: str
    scopes: list[str]
    granted_at: Any


async def list_consents(account_id: UUID) -> list[GrantedConsent]:
    """What the resident allowed which partner (for the /account page)."""
    rows = await Consent.filter(account_id=account_id).select_related("client").order_by("-granted_at")
    return [GrantedConsent(r.client.id, r.client.name, r.scope.split(), r.granted_at) for r in rows]


async def revoke_consent(rt: Runtime, account_id: UUID, client_id: str) -> bool:
    """Withdraws a consent and ends that partner's tokens for the resident; the next sign-in asks again."""
    deleted = await Consent.filter(account_id=account_id, client_id=client_id).delete()
    await PartnerGrant.filter(account_id=account_id, client_id=client_id, revoked_at__isnull=True).update(
        revoked_at=rt.clock.now()
    )
    return bool(deleted)


async def revoke_partner_tokens(rt: Runtime, account_id: UUID) -> int:
    """A password reset or "sign out everywhere": every partner's tokens for the resident die now.

    Partners that registered a back-channel logout URI are told through a queue (`notices`): a notice
    per partner is written here, in the caller's transaction, and sent after commit with retries.
    Their tokens are already dead whatever they hear.
    """
    now = rt.clock.now()
    live = await PartnerGrant.filter(account_id=account_id, revoked_at__isnull=True).select_related("client")
    revoked = await PartnerGrant.filter(account_id=account_id, revoked_at__isnull=True).update(revoked_at=now)
    told = {g.client.id: pairwise_sub(rt, g.client.id, account_id) for g in live if g.client.backchannel_logout_uri}
    await enqueue_notices(rt, told)
    return revoked


def logout_token(rt: Runtime, client_id: str, account_id: UUID) -> str:
    """An OpenID back-channel logout token (a signed JWT with the `backchannel-logout` event, no nonce)."""
    return logout_token_for(rt, client_id, pairwise_sub(rt, client_id, account_id))


def logout_token_for(rt: Runtime, client_id: str, subject: str) -> str:
    """The logout token for a partner's pairwise `sub` (the signing keys must be loaded)."""
    key = keyring_for(rt).signing_key("RS256")
    now = int(rt.clock.now().timestamp())
    claims = {
        "iss": rt.settings.public_url,
        "aud": client_id,
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
        "sub": subject,
        "events": {BACKCHANNEL_EVENT: {}},
    }
    return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "logout+jwt"}, claims, key.key, ["RS256"])
