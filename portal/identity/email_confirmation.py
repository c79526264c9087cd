"""Mailed links that prove an address (`/confirm-email?token=…`): one table and one spend for every purpose.

An activation by a bill's code names an address nobody has proven yet, so the account gets that address
only when its link is used: until then it cannot be used to sign in or to reset a password. An e-mail
change (issue 16) reuses `issue_confirmation` with its own `purpose`; `confirm_email` applies either.
Tokens are 256 bits, stored only as keyed hashes, single use (one conditional UPDATE), 24 hours, and a
newer link for the same account and purpose voids the older ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from tortoise.transactions import in_transaction

from portal.core.client import ClientInfo
from portal.core.errors import TooMany
from portal.core.runtime import Runtime
from portal.core.throttle import Limit
from portal.core.tokens import new_token
from portal.identity.reset import void_reset_tokens
from portal.mail.outbox import enqueue
from portal.models.accounts import Account, AccountStatus
from portal.models.audit import record
from portal.models.residents import EmailConfirmation

TOKEN_PURPOSE = "email-confirmation"
CONFIRM_PATH = "/confirm-email"
TTL = timedelta(hours=24)
ACTIVATION = "activation"
# Wrong, used or expired confirmation tokens per client address before confirmEmail answers TooManyAttempts.
WRONG_TOKENS_PER_CLIENT = Limit("confirm-email.wrong.client", 10, 900)
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,128}$")


@dataclass(frozen=True)
class EmailConfirmed:
    account: Account


@dataclass(frozen=True)
class BadConfirmation:
    """Unknown, used, voided or expired, or the address was taken meanwhile: one answer (`InvalidToken`)."""


ConfirmOutcome = EmailConfirmed | BadConfirmation | TooMany


def confirmation_link(rt: Runtime, token: str) -> str:
    return f"{rt.settings.public_url}{CONFIRM_PATH}?token={token}"


async def issue_confirmation(rt: Runtime, account: Account, email: str, purpose: str, lang: str) -> None:
    """Voids older links of this purpose, stores the new one and queues its letter; call inside a transaction."""
    now = rt.clock.now()
    await EmailConfirmation.filter(
        account_id=account.id, purpose=purpose, used_at__isnull=True, voided_at__isnull=True
    ).update(voided_at=now)
    token = new_token()
    await EmailConfirmation.create(
        account=account, purpose=purpose, email=email, token_hash=rt.tokens.digest(TOKEN_PURPOSE, token),
        created_at=now, expires_at=now + TTL,
    )
    await enqueue(
        rt, template="email_confirm", to=email, lang=lang, expires_at=now + TTL,
        context={"full_name": account.full_name, "confirm_url": confirmation_link(rt, token),
                 "purpose": purpose, "valid_until": now + TTL},
    )


class _Abandon(Exception):
    """Rolls the confirmation back: spent meanwhile, or the address belongs to someone else now."""


async def confirm_email(rt: Runtime, token: str, client: ClientInfo) -> ConfirmOutcome:
    """`confirmEmail`: spends the link and gives the account its proven address."""
    if (limited := await rt.throttle.check(WRONG_TOKENS_PER_CLIENT, client.address)) is not None:
        return limited
    now = rt.clock.now()
    row = None
    if _TOKEN_RE.match(token or ""):
        row = await EmailConfirmation.filter(
            token_hash=rt.tokens.digest(TOKEN_PURPOSE, token), used_at__isnull=True, voided_at__isnull=True,
            expires_at__gt=now, account__status=AccountStatus.ACTIVE,
        ).select_related("account").first()
    try:
        if row is None:
            raise _Abandon
        async with in_transaction():
            if not await EmailConfirmation.filter(id=row.id, used_at__isnull=True, voided_at__isnull=True).update(
                used_at=now
            ):
                raise _Abandon
            if await Account.filter(email=row.email).exclude(id=row.account.id).exists():
                raise _Abandon
            await Account.filter(id=row.account.id).update(email=row.email, email_verified=True)
            # Reset links mailed to an address the account no longer has must die with the change.
            await void_reset_tokens(rt, row.account.id)
            await record(rt, "email.confirmed", actor_id=row.account.id, subject_id=row.account.id, client=client,
                         details={"purpose": row.purpose})
    except _Abandon:
        await rt.throttle.hit(WRONG_TOKENS_PER_CLIENT, client.address)
        return BadConfirmation()
    account = await Account.get(id=row.account.id)
    return EmailConfirmed(account)
