"""Mobile apps: the one-time login code a federated sign-in ends in, traded for a session."""

from __future__ import annotations

import logging
from datetime import timedelta
from uuid import UUID

from portal.core.client import ClientInfo
from portal.core.errors import TooMany
from portal.core.providers import ProviderConfig
from portal.core.runtime import Runtime
from portal.core.tokens import new_token
from portal.identity.federation.id_token import Claims
from portal.identity.federation.links import link_identity
from portal.identity.federation.outcomes import CODE_LIMIT, LOGIN_CODE, LOGIN_CODE_TTL, CodeRefused, Failed
from portal.identity.sessions import IssuedSession, issue_session
from portal.models.accounts import Account, AccountStatus
from portal.models.audit import record
from portal.models.federation import LoginCode

log = logging.getLogger("portal.federation")


async def new_login_code(
    rt: Runtime, account_id: UUID, provider: ProviderConfig | None = None, link: Claims | None = None
) -> str:
    code = new_token()
    now = rt.clock.now()
    await LoginCode.create(
        code_hash=rt.tokens.digest(LOGIN_CODE, code),
        account_id=account_id,
        link_provider=provider.id if provider and link else None,
        link_issuer=link.issuer if link else None,
        link_subject=link.subject if link else None,
        link_email=link.email if link else None,
        created_at=now,
        expires_at=now + timedelta(seconds=LOGIN_CODE_TTL),
    )
    return code


async def exchange_login_code(
    rt: Runtime, code: str, client: ClientInfo, caller: Account | None
) -> IssuedSession | CodeRefused | TooMany:
    """Spends a one-time login code for a new session. A link code works only for the account that started it."""
    too_many = await rt.throttle.hit(CODE_LIMIT, client.address)
    if too_many:
        return too_many
    if not code or len(code) > 128:
        return CodeRefused()
    now = rt.clock.now()
    code_hash = rt.tokens.digest(LOGIN_CODE, code)
    spent = await LoginCode.filter(code_hash=code_hash, used_at__isnull=True, expires_at__gt=now).update(used_at=now)
    if not spent:
        return CodeRefused()
    row = await LoginCode.get(code_hash=code_hash)
    account = await Account.filter(id=row.account_id, status=AccountStatus.ACTIVE).first()
    if account is None:
        return CodeRefused()
    provider_id = row.link_provider
    if row.link_issuer is not None and row.link_subject is not None:
        if caller is None or caller.id != account.id:
            return CodeRefused()
        provider = rt.providers.get(row.link_provider or "")
        if provider is None:
            return CodeRefused()
        linked = await link_identity(
            rt, account, provider, Claims(row.link_issuer, row.link_subject, row.link_email, None), client
        )
        if isinstance(linked, Failed):
            return CodeRefused()
    issued = await issue_session(rt, account, client, "fed")
    await record(
        rt,
        "signin.success",
        actor_id=account.id,
        subject_id=account.id,
        client=client,
        details={"method": "fed", "via": "login-code", **({"provider": provider_id} if provider_id else {})},
    )
    return issued
