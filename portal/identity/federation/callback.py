"""Completing a federated sign-in: spending the flow, finding or creating the account, linking, the session."""

from __future__ import annotations

import logging

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from portal.core.client import ClientInfo
from portal.core.providers import ProviderConfig
from portal.core.runtime import Runtime
from portal.identity.federation.id_token import Claims, Rejected, verify_answer
from portal.identity.federation.links import link_identity, new_identity
from portal.identity.federation.mobile import new_login_code
from portal.identity.federation.outcomes import (
    BINDING,
    CALLBACK_LIMIT,
    FAILED_ACCOUNT,
    FAILED_CANCELLED,
    FAILED_EMAIL_TAKEN,
    FAILED_LINKED_ELSEWHERE,
    FAILED_PROVIDER,
    FAILED_STATE,
    FULL_NAME_FALLBACK,
    STATE,
    CallbackOutcome,
    CodeIssued,
    Failed,
    SignedIn,
)
from portal.identity.federation.return_urls import with_query
from portal.identity.identifiers import has_control_characters
from portal.identity.sessions import issue_session
from portal.models.accounts import Account, AccountStatus
from portal.models.audit import record, record_statement
from portal.models.federation import FederatedIdentity, FederationFlow

log = logging.getLogger("portal.federation")


async def complete(
    rt: Runtime, provider_id: str, params: dict[str, str], binding: str | None, client: ClientInfo
) -> CallbackOutcome:
    """Handles the provider's redirect back: every check first, then one account decision."""
    too_many = await rt.throttle.hit(CALLBACK_LIMIT, client.address)
    if too_many:
        return too_many
    provider = rt.providers.get(provider_id)
    state = params.get("state")
    if provider is None or not state or len(state) > 128:
        return Failed(FAILED_STATE)
    flow = await _spend_flow(rt, provider.id, state, binding)
    if flow is None:
        await record(rt, "federation.failure", client=client, details={"provider": provider.id, "why": "state"})
        return Failed(FAILED_STATE)
    if params.get("error"):
        return Failed(FAILED_CANCELLED)
    try:
        claims = await verify_answer(rt, provider, flow, params)
    except Rejected as exc:
        log.warning("federated sign-in through %s rejected: %s", provider.id, exc)
        await record(rt, "federation.failure", client=client, details={"provider": provider.id, "why": str(exc)[:200]})
        return Failed(FAILED_PROVIDER)

    if flow.link_account_id is not None:
        return await _finish_link(rt, provider, flow, claims, client)
    found = await _account_for(rt, provider, claims, client)
    if isinstance(found, Failed):
        return found
    return await _finish_sign_in(rt, provider, flow, found, client)


async def _spend_flow(rt: Runtime, provider_id: str, state: str, binding: str | None) -> FederationFlow | None:
    """The flow behind `state`, spent once: unknown, expired, used, or another browser's flow gives None."""
    now = rt.clock.now()
    flow = await FederationFlow.filter(state_hash=rt.tokens.digest(STATE, state)).first()
    if flow is None or flow.provider != provider_id or flow.used_at is not None or flow.expires_at <= now:
        return None
    if flow.binding_hash is not None and (
        binding is None
        or len(binding) > 128
        or not rt.tokens.equal(rt.tokens.digest(BINDING, binding), flow.binding_hash)
    ):
        return None  # a foreign browser does not even spend the flow
    spent = await FederationFlow.filter(id=flow.id, used_at__isnull=True).update(used_at=now)
    return flow if spent else None


async def _account_for(rt: Runtime, provider: ProviderConfig, claims: Claims, client: ClientInfo) -> Account | Failed:
    """The linked account, or a new password-less one; never an existing account found by e-mail."""
    now = rt.clock.now()
    identity = (
        await FederatedIdentity.filter(issuer=claims.issuer, subject=claims.subject).select_related("account").first()
    )
    if identity is not None:
        account = identity.account
        if account.status != AccountStatus.ACTIVE:
            return Failed(FAILED_ACCOUNT)
        await FederatedIdentity.filter(id=identity.id).update(last_used_at=now, email=claims.email or identity.email)
        return account
    if claims.email and await Account.filter(email=claims.email).exists():
        await record(rt, "federation.email_taken", client=client, details={"provider": provider.id})
        return Failed(FAILED_EMAIL_TAKEN)
    full_name = " ".join((claims.name or "").split())[:200]
    if not full_name or has_control_characters(full_name):
        full_name = FULL_NAME_FALLBACK
    try:
        async with in_transaction():
            account = await Account.create(
                full_name=full_name,
                email=claims.email,
                email_verified=claims.email is not None,
                password_hash=None,
                preferred_language=client.locale,
            )
            await new_identity(account, provider, claims, now)
            await record(
                rt,
                "account.created",
                actor_id=account.id,
                subject_id=account.id,
                client=client,
                details={"method": "fed", "provider": provider.id},
            )
    except IntegrityError:  # the same identity signed in twice at once, or the e-mail was taken meanwhile
        identity = (
            await FederatedIdentity.filter(issuer=claims.issuer, subject=claims.subject)
            .select_related("account")
            .first()
        )
        if identity is None:
            return Failed(FAILED_EMAIL_TAKEN)
        return identity.account
    return account


async def _browser_session(
    rt: Runtime, provider: ProviderConfig, flow: FederationFlow, account: Account, client: ClientInfo
) -> SignedIn:
    """A new session for the browser, written atomically with its `signin.success` audit record."""
    audit = record_statement(
        rt,
        "signin.success",
        actor_id=account.id,
        subject_id=account.id,
        client=client,
        details={"method": "fed", "provider": provider.id},
    )
    issued = await issue_session(rt, account, client, "fed", also=[audit])
    return SignedIn(issued, flow.return_to)


async def _finish_sign_in(
    rt: Runtime, provider: ProviderConfig, flow: FederationFlow, account: Account, client: ClientInfo
) -> SignedIn | CodeIssued:
    if flow.mobile:
        code = await new_login_code(rt, account.id)
        return CodeIssued(with_query(flow.return_to, code=code))
    return await _browser_session(rt, provider, flow, account, client)


async def _finish_link(
    rt: Runtime, provider: ProviderConfig, flow: FederationFlow, claims: Claims, client: ClientInfo
) -> CallbackOutcome:
    """A signed-in resident's link: browsers link now; a mobile app links when it exchanges the code."""
    account = await Account.filter(id=flow.link_account_id, status=AccountStatus.ACTIVE).first()
    if account is None:
        return Failed(FAILED_ACCOUNT)
    identity = await FederatedIdentity.filter(issuer=claims.issuer, subject=claims.subject).first()
    if identity is not None and identity.account_id != account.id:  # type: ignore[attr-defined]
        await record(
            rt,
            "federation.link_refused",
            actor_id=account.id,
            subject_id=account.id,
            client=client,
            details={"provider": provider.id},
        )
        return Failed(FAILED_LINKED_ELSEWHERE)
    if flow.mobile:
        code = await new_login_code(rt, account.id, provider, claims if identity is None else None)
        return CodeIssued(with_query(flow.return_to, code=code))
    if identity is None:
        linked = await link_identity(rt, account, provider, claims, client)
        if isinstance(linked, Failed):
            return linked
    return await _browser_session(rt, provider, flow, account, client)

