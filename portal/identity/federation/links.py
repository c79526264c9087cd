"""The providers an account is linked to, and unlinking one (never the last way to sign in)."""

from __future__ import annotations

import logging
from datetime import datetime
from uuid import UUID

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from portal.core.client import ClientInfo
from portal.core.providers import ProviderConfig
from portal.core.runtime import Runtime
from portal.identity.federation.id_token import Claims
from portal.identity.federation.outcomes import (
    FAILED_LINKED_ELSEWHERE,
    Failed,
    LastWayToSignIn,
    Link,
    NotLinked,
    Unlinked,
)
from portal.models.accounts import Account
from portal.models.audit import record
from portal.models.federation import FederatedIdentity

log = logging.getLogger("portal.federation")


async def linked_identities(rt: Runtime, account_id: UUID) -> list[Link]:
    rows = await FederatedIdentity.filter(account_id=account_id).order_by("linked_at")
    return [Link(r.provider, rt.providers.name_of(r.provider), r.email, r.linked_at) for r in rows]


async def unlink(
    rt: Runtime, account: Account, provider_id: str, client: ClientInfo
) -> Unlinked | NotLinked | LastWayToSignIn:
    """Removes the account's identities at a provider, unless nothing would be left to sign in with."""
    async with in_transaction():
        rows = await FederatedIdentity.filter(account_id=account.id).select_for_update()
        mine = [r for r in rows if r.provider == provider_id]
        if not mine:
            return NotLinked()
        fresh = await Account.get(id=account.id)
        if fresh.password_hash is None and len(mine) == len(rows):
            return LastWayToSignIn()
        await FederatedIdentity.filter(id__in=[r.id for r in mine]).delete()
        await record(
            rt,
            "federation.unlinked",
            actor_id=account.id,
            subject_id=account.id,
            client=client,
            details={"provider": provider_id},
        )
    return Unlinked(provider_id)


async def new_identity(account: Account, provider: ProviderConfig, claims: Claims, now: datetime) -> FederatedIdentity:
    """The row that ties a provider's subject to an account, first used now (inside the caller's transaction)."""
    return await FederatedIdentity.create(
        account=account,
        provider=provider.id,
        issuer=claims.issuer,
        subject=claims.subject,
        email=claims.email,
        linked_at=now,
        last_used_at=now,
    )


async def link_identity(
    rt: Runtime, account: Account, provider: ProviderConfig, claims: Claims, client: ClientInfo
) -> FederatedIdentity | Failed:
    now = rt.clock.now()
    try:
        async with in_transaction():
            identity = await new_identity(account, provider, claims, now)
            await record(
                rt,
                "federation.linked",
                actor_id=account.id,
                subject_id=account.id,
                client=client,
                details={"provider": provider.id},
            )
    except IntegrityError:
        return Failed(FAILED_LINKED_ELSEWHERE)
    return identity
