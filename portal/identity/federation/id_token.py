"""Checking what the provider sent back: RFC 9207's iss, the code exchange, the ID token and userinfo."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from portal.core.errors import FieldProblem
from portal.core.providers import HTTP_TIMEOUT, ProviderConfig, ProviderUnavailable
from portal.core.runtime import Runtime
from portal.identity.federation.outcomes import ID_TOKEN_LEEWAY, ID_TOKEN_MAX_AGE
from portal.identity.federation.start import oauth_client
from portal.identity.identifiers import normalize_email
from portal.models.federation import FederationFlow

log = logging.getLogger("portal.federation")


@dataclass(frozen=True, slots=True)
class Claims:
    issuer: str
    subject: str
    email: str | None  # normalised, and only when the provider says it is verified
    name: str | None


class Rejected(Exception):
    """The provider's answer did not check out (the message is for the log, never for the resident)."""


async def verify_answer(rt: Runtime, provider: ProviderConfig, flow: FederationFlow, params: dict[str, str]) -> Claims:
    now = rt.clock.now().timestamp()
    try:
        metadata = await rt.providers.metadata(provider, now)
    except ProviderUnavailable as exc:
        raise Rejected(str(exc)) from exc
    # RFC 9207: the authorization response names its issuer; a mix-up sends another issuer's (or none).
    iss = params.get("iss")
    if iss is not None and iss != provider.issuer:
        raise Rejected(f"authorization response iss {iss!r}")
    if iss is None and metadata.get("authorization_response_iss_parameter_supported") is True:
        raise Rejected("authorization response without iss from a provider that promises it")
    code = params.get("code")
    if not code:
        raise Rejected("no code")

    try:
        async with oauth_client(rt, provider) as oauth:
            token = await oauth.fetch_token(
                metadata["token_endpoint"], code=code, code_verifier=flow.code_verifier, grant_type="authorization_code"
            )
    except Exception as exc:  # noqa: BLE001 - any transport or OAuth error is one rejection
        raise Rejected(f"token request: {exc!r}"[:300]) from exc
    id_token = token.get("id_token")
    access_token = token.get("access_token")
    if not isinstance(id_token, str):
        raise Rejected("no id_token in the token response")

    claims = await _validate_id_token(rt, provider, metadata, id_token, flow.nonce, access_token, now)
    subject = str(claims["sub"])
    info: dict[str, Any] = dict(claims)
    userinfo_endpoint = metadata.get("userinfo_endpoint")
    if "email" not in info and isinstance(userinfo_endpoint, str) and isinstance(access_token, str):
        info.update(await _userinfo(userinfo_endpoint, access_token, subject))
    email = None
    raw_email = info.get("email")
    if isinstance(raw_email, str) and info.get("email_verified") is True:
        try:
            email = normalize_email(raw_email)
        except FieldProblem:
            email = None
    name = info.get("name")
    return Claims(provider.issuer, subject, email, name if isinstance(name, str) else None)


async def _validate_id_token(
    rt: Runtime,
    provider: ProviderConfig,
    metadata: dict[str, Any],
    id_token: str,
    nonce: str,
    access_token: object,
    now: float,
) -> CodeIDToken:
    """Signature against the provider's JWKS (refetched once for an unknown kid), then iss, aud, azp, exp,
    iat, nonce and at_hash by Authlib's `CodeIDToken`."""
    algorithms = [a for a in metadata.get("id_token_signing_alg_values_supported") or ["RS256"] if a != "none"]
    registry = JWSRegistry(algorithms=algorithms)
    try:
        try:
            keys = KeySet.import_key_set(await rt.providers.jwks(provider, now))  # type: ignore[arg-type]
            decoded = jwt.decode(id_token, keys, registry=registry)
        except InvalidKeyIdError:
            keys = KeySet.import_key_set(await rt.providers.jwks(provider, now, refresh=True))  # type: ignore[arg-type]
            decoded = jwt.decode(id_token, keys, registry=registry)
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            {
                "iss": {"essential": True, "value": provider.issuer},
                "aud": {"essential": True, "value": provider.client_id},
                "sub": {"essential": True},
                "nonce": {"essential": True, "value": nonce},
            },
            {"nonce": nonce, "client_id": provider.client_id, "access_token": access_token},
        )
        claims.validate(now=int(now), leeway=ID_TOKEN_LEEWAY)
    except (JoseError, ValueError, ProviderUnavailable) as exc:
        raise Rejected(f"id_token: {exc!r}"[:300]) from exc
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or iat > now + ID_TOKEN_LEEWAY or iat < now - ID_TOKEN_MAX_AGE:
        raise Rejected(f"id_token iat {iat!r} is not recent")
    if not isinstance(claims.get("sub"), str) or not claims["sub"] or len(claims["sub"]) > 255:
        raise Rejected("id_token sub")
    return claims


async def _userinfo(endpoint: str, access_token: str, subject: str) -> dict[str, Any]:
    """E-mail and name from the UserInfo endpoint when the ID token leaves them out; `sub` must match."""
    import httpx

    try:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False) as http:
            response = await http.get(endpoint, headers={"Authorization": f"Bearer {access_token}"})
            response.raise_for_status()
            data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise Rejected(f"userinfo: {exc!r}"[:300]) from exc
    if not isinstance(data, dict) or data.get("sub") != subject:
        raise Rejected("userinfo sub does not match the ID token")
    return {k: data[k] for k in ("email", "email_verified", "name") if k in data}
