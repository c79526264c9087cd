"""Finishing a sign-in with the second factor: the challenge from `identity.challenge` and a code.

Throttled like passwords: wrong codes per account on the sign-in schedule (growing waits, then a lock),
and failures per client address. The challenge is spent only with a right code, by one conditional
UPDATE (two concurrent uses succeed once); it lives 5 minutes.
"""

from __future__ import annotations

import re
from uuid import UUID

from portal.core.client import ClientInfo
from portal.core.errors import FieldCode, FieldProblem, Invalid, TooMany
from portal.core.runtime import Runtime
from portal.core.throttle import Backoff
from portal.identity import passkeys, totp
from portal.identity.challenge import CHALLENGE_PURPOSE
from portal.identity.sessions import IssuedSession, issue_session
from portal.identity.signin import SIGNIN_BACKOFF, BadCredentials, client_limit
from portal.identity.totp import check_code
from portal.models.accounts import AccountStatus
from portal.models.audit import record, record_statement
from portal.models.security import SecondFactorChallenge

# The sign-in's own schedule, counted apart so a guessed code never locks the password (nor the reverse).
CODE_BACKOFF = Backoff("second-factor", SIGNIN_BACKOFF.delays, SIGNIN_BACKOFF.hard_limit,
                       SIGNIN_BACKOFF.hard_seconds, SIGNIN_BACKOFF.keep)
_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9_-]{20,128}$")


async def verify_second_factor(
    rt: Runtime, challenge: str, code: str, client: ClientInfo
) -> IssuedSession | BadCredentials | TooMany | Invalid:
    if not code or not code.strip():
        return Invalid.of(FieldProblem("code", FieldCode.REQUIRED))
    per_client = client_limit(rt)
    if (blocked := await rt.throttle.check(per_client, client.address)) is not None:
        return blocked
    now = rt.clock.now()
    row = None
    if _CHALLENGE_RE.match(challenge or ""):
        row = await SecondFactorChallenge.filter(
            token_hash=rt.tokens.digest(CHALLENGE_PURPOSE, challenge), used_at__isnull=True, expires_at__gt=now
        ).select_related("account").first()
    if row is None or row.account.status != AccountStatus.ACTIVE:
        await rt.throttle.hit(per_client, client.address)
        return BadCredentials()
    account = row.account
    key = f"account:{account.id}"
    if (blocked := await rt.throttle.attempt(CODE_BACKOFF, key)) is not None:
        return blocked
    method = await check_code(rt, account.id, code)
    if method is None:
        await rt.throttle.hit(per_client, client.address)
        await record(rt, "signin.second_factor_failure", subject_id=account.id, client=client)
        return BadCredentials()
    spent = await SecondFactorChallenge.filter(id=row.id, used_at__isnull=True, expires_at__gt=now).update(used_at=now)
    if not spent:
        return BadCredentials()
    await rt.throttle.clear(CODE_BACKOFF, key)
    audit = record_statement(
        rt, "signin.success", actor_id=account.id, subject_id=account.id, client=client,
        details={"second_factor": method},
    )
    return await issue_session(rt, account, client, "pwd+otp", also=[audit])


async def has_second_factor(account_id: UUID) -> bool:
    """An authenticator app (TOTP) or a passkey (user-verified, so both factors at once) is in place."""
    return await totp.is_enabled(account_id) or bool(await passkeys.list_passkeys(account_id))
