"""The half-finished sign-in: after the password, a second factor (issue 16).

`identity.signin` asks `begin_if_needed` before issuing a session; an account with a second factor gets a
challenge instead (a random handle, stored only as a keyed hash, 5 minutes, single use) that
`identity.second_factor.verify_second_factor` trades, with a code, for the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from portal.core.runtime import Runtime
from portal.core.tokens import new_token
from portal.models.accounts import Account
from portal.models.security import Passkey, RecoveryCode, SecondFactorChallenge, TotpCredential

CHALLENGE_TTL = 300
CHALLENGE_PURPOSE = "second-factor-challenge"
TOTP, RECOVERY_CODE, PASSKEY = "TOTP", "RECOVERY_CODE", "PASSKEY"


@dataclass(frozen=True)
class SecondFactorNeeded:
    """The password was right; `challenge` and a code finish the sign-in (`SecondFactorRequired`)."""

    challenge: str
    methods: tuple[str, ...]


async def second_factors(account_id: object) -> tuple[str, ...]:
    """The second factors an account has in use, as `SecondFactorMethod` names."""
    methods: list[str] = []
    if await TotpCredential.filter(account_id=account_id, confirmed_at__isnull=False).exists():
        methods.append(TOTP)
        if await RecoveryCode.filter(account_id=account_id, used_at__isnull=True).exists():
            methods.append(RECOVERY_CODE)
    if await Passkey.filter(account_id=account_id).exists():
        methods.append(PASSKEY)
    return tuple(methods)


async def begin_if_needed(rt: Runtime, account: Account) -> SecondFactorNeeded | None:
    """A challenge when the account has a code-based second factor (TOTP); None: the password is enough."""
    # Known from the sign-in's own lookup (identity.accounts.find_account), else one indexed query; the full
    # list only for accounts that have a second factor.
    known = account.has_confirmed_totp
    if known is False or (
        known is None and not await TotpCredential.filter(account_id=account.id, confirmed_at__isnull=False).exists()
    ):
        return None
    # A passkey signs in on its own (both factors), so the code step offers what verifySecondFactor takes.
    methods = tuple(m for m in await second_factors(account.id) if m != PASSKEY)
    token = new_token()
    now = rt.clock.now()
    await SecondFactorChallenge.create(
        account_id=account.id, token_hash=rt.tokens.digest(CHALLENGE_PURPOSE, token), created_at=now,
        expires_at=now + timedelta(seconds=CHALLENGE_TTL),
    )
    return SecondFactorNeeded(token, methods)
