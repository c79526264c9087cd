"""Proving again who you are, for the sensitive changes of the resident's own security (issue 16).

The rule lives in `identity.reauth` (the server's record of the last proof, 10 minutes); this module
decides what counts as a fresh proof when a request brings one: the current password (a wrong one
counts toward the sign-in lock, exactly like a failed sign-in), a second-factor code, or a passkey
(`identity.passkeys`). A proof is written to the session, so the next sensitive change needs none.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.core.client import ClientInfo
from portal.core.errors import TooMany
from portal.core.runtime import Runtime
from portal.identity.reauth import is_recent, record_proof
from portal.identity.signin import SIGNIN_BACKOFF, BadCredentials, account_key
from portal.models.accounts import Account, Session
from portal.models.audit import record


@dataclass(frozen=True)
class Proved:
    """The session holds a proof of the last 10 minutes (given now or earlier)."""


@dataclass(frozen=True)
class ReauthNeeded:
    """No proof within the last 10 minutes and none given (`ReauthenticationRequired`)."""


ProofOutcome = Proved | ReauthNeeded | BadCredentials | TooMany


async def check_password(
    rt: Runtime, account: Account, password: str, client: ClientInfo
) -> BadCredentials | TooMany | None:
    """None when `password` is the account's own; a wrong one counts toward the sign-in lock (signin.SIGNIN_BACKOFF)."""
    key = account_key(account.id)
    if (blocked := await rt.throttle.attempt(SIGNIN_BACKOFF, key)) is not None:
        return blocked
    too_long = len(password) > rt.settings.password_max_length
    ok = not too_long and await rt.passwords.verify(account.password_hash, password)
    if not ok:
        await record(rt, "reauth.failure", actor_id=account.id, subject_id=account.id, client=client)
        return BadCredentials()
    await rt.throttle.clear(SIGNIN_BACKOFF, key)
    return None


async def mark_proved(rt: Runtime, session: Session) -> None:
    """Writes the proof and keeps the loaded session in step (the same request may check it again)."""
    await record_proof(rt, session.id)
    session.authenticated_at = rt.clock.now()


async def prove(rt: Runtime, session: Session, password: str, client: ClientInfo) -> ProofOutcome:
    """The current password when one is given, else the session's own record of a recent proof."""
    if password:
        failed = await check_password(rt, session.account, password, client)
        if failed is not None:
            return failed
        await mark_proved(rt, session)
        return Proved()
    return Proved() if is_recent(rt, session) else ReauthNeeded()
