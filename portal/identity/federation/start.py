"""Starting a federated sign-in: a single-use flow (state, nonce, PKCE verifier) bound to the browser."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from authlib.integrations.httpx_client import AsyncOAuth2Client

from portal.core.client import ClientInfo
from portal.core.errors import FieldCode, FieldProblem, Invalid
from portal.core.providers import HTTP_TIMEOUT, ProviderConfig, ProviderUnavailable
from portal.core.runtime import Runtime
from portal.core.tokens import new_token
from portal.identity.federation.outcomes import BINDING, FLOW_TTL, STATE, Started
from portal.identity.federation.return_urls import callback_url, check_return_to
from portal.models.accounts import Account
from portal.models.federation import FederationFlow

log = logging.getLogger("portal.federation")


async def start(
    rt: Runtime, provider_id: str, return_to: str | None, client: ClientInfo, signed_in: Account | None
) -> Started | Invalid:
    """A new flow and the provider's authorization URL (code flow, PKCE S256, state, nonce)."""
    provider = rt.providers.get(provider_id)
    if provider is None:
        return Invalid.of(FieldProblem("provider", FieldCode.UNKNOWN_PROVIDER))
    try:
        target, mobile = check_return_to(rt, return_to)
    except FieldProblem as problem:
        return Invalid.of(problem)
    now = rt.clock.now()
    try:
        metadata = await rt.providers.metadata(provider, now.timestamp())
    except ProviderUnavailable as exc:
        log.warning("identity provider unavailable: %s", exc)
        return Invalid.of(FieldProblem("provider", FieldCode.PROVIDER_UNAVAILABLE))

    state, nonce, verifier = new_token(), new_token(), secrets.token_urlsafe(64)
    binding = None if mobile else new_token()
    async with oauth_client(rt, provider) as oauth:
        url, _ = oauth.create_authorization_url(
            metadata["authorization_endpoint"], state=state, nonce=nonce, code_verifier=verifier
        )
    await FederationFlow.create(
        state_hash=rt.tokens.digest(STATE, state),
        binding_hash=rt.tokens.digest(BINDING, binding) if binding else None,
        provider=provider.id,
        nonce=nonce,
        code_verifier=verifier,
        return_to=target,
        mobile=mobile,
        link_account_id=signed_in.id if signed_in else None,
        created_at=now,
        expires_at=now + timedelta(seconds=FLOW_TTL),
    )
    return Started(authorization_url=url, binding=binding)


def oauth_client(rt: Runtime, provider: ProviderConfig) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        scope=" ".join(provider.scopes),
        redirect_uri=callback_url(rt, provider.id),
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",  # noqa: S106 - a method name, not a secret
        timeout=HTTP_TIMEOUT,
    )
