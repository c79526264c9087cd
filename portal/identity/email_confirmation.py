"""The confirmation link of an activation by code (`/confirm-email?token=…`), on the e-mail change's rails.

An activation by a bill's code names an address nobody has proven yet, so the account gets that address
only when its link is used: until then it cannot be used to sign in or to reset a password. The link is an
`EmailToken` of purpose `activation` (identity.email_address: keyed hash, single use, 24 hours), spent by
the same `confirmEmail` and `/confirm-email` as an e-mail change's link. A newer link voids older ones.
"""

from __future__ import annotations

from datetime import timedelta

from portal.core.runtime import Runtime
from portal.identity.email_address import CONFIRM_PATH, issue_email_token, void_email_tokens
from portal.mail.outbox import enqueue
from portal.models.accounts import Account

ACTIVATION = "activation"
TTL = timedelta(hours=24)


async def issue_confirmation(rt: Runtime, account: Account, email: str, purpose: str, lang: str) -> None:
    """Voids older links of this purpose, stores the new one and queues its letter; call inside a transaction."""
    now = rt.clock.now()
    await void_email_tokens(account.id, purpose, now)
    token = await issue_email_token(rt, account.id, purpose, email, int(TTL.total_seconds()))
    await enqueue(
        rt, template="email_confirm", to=email, lang=lang, expires_at=now + TTL,
        context={"full_name": account.full_name, "confirm_url": f"{rt.settings.public_url}{CONFIRM_PATH}?token={token}",
                 "purpose": purpose, "valid_until": now + TTL},
    )
