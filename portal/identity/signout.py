"""Signing a resident out of other devices: portal sessions and every partner's tokens, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from tortoise.transactions import in_transaction

from portal.core.client import ClientInfo
from portal.core.runtime import Runtime
from portal.identity.provider import revoke_partner_tokens
from portal.identity.sessions import revoke_sessions
from portal.models.audit import record


@dataclass(frozen=True)
class SignedOutElsewhere:
    """How many portal sessions and partner token families ended."""

    sessions: int
    partner_grants: int


async def sign_out_other_devices(
    rt: Runtime, account_id: UUID, *, keep: UUID | None, client: ClientInfo
) -> SignedOutElsewhere:
    """"Sign out of all other devices": every session but `keep` ends, and so do partners' tokens (issue 9),
    with an OpenID back-channel logout to partners that registered one; audited as `sessions.revoked_others`."""
    async with in_transaction():
        ended = await revoke_sessions(rt, account_id=account_id, keep=keep)
        partners = await revoke_partner_tokens(rt, account_id)
        await record(
            rt,
            "sessions.revoked_others",
            actor_id=account_id,
            subject_id=account_id,
            client=client,
            details={"count": ended, "partner_grants": partners},
        )
    return SignedOutElsewhere(ended, partners)
