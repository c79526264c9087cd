"""Changing the password from a signed-in session (issue 16): the reset's policy, the other sessions end.

The current password is the proof (or, for an account without one, a recent proof of the session):
a wrong one counts toward the sign-in lock. In one transaction: the new hash, every live reset link
voided, every other session and every partner grant revoked, the "your password was changed" letter
queued and the event audited. The session that made the change stays signed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.transactions import in_transaction

from portal.core.client import ClientInfo
from portal.core.errors import Invalid, TooMany
from portal.core.runtime import Runtime
from portal.identity.proofs import Proved, ReauthNeeded, prove
from portal.identity.provider import revoke_partner_tokens
from portal.identity.reset import password_changed_letter, policy_problems, void_reset_tokens
from portal.identity.sessions import revoke_sessions
from portal.identity.signin import BadCredentials
from portal.models.accounts import Account, Session
from portal.models.audit import record


@dataclass(frozen=True)
class PasswordChanged:
    """The new password is set; `first`: the account had none before (a federated-only resident set one)."""

    first: bool


ChangeOutcome = PasswordChanged | BadCredentials | ReauthNeeded | TooMany | Invalid


async def change_password(
    rt: Runtime, session: Session, current_password: str, new_password: str, confirmation: str, client: ClientInfo
) -> ChangeOutcome:
    account = session.account
    proof = await prove(rt, session, current_password, client)
    if not isinstance(proof, Proved):
        return proof
    if problems := policy_problems(rt, account, new_password, confirmation):
        return Invalid(problems)
    password_hash = await rt.passwords.hash(new_password)
    now = rt.clock.now()
    first = account.password_hash is None
    async with in_transaction():
        await Account.filter(id=account.id).update(password_hash=password_hash, password_changed_at=now)
        await void_reset_tokens(rt, account.id)
        await revoke_sessions(rt, account_id=account.id, keep=session.id)
        await revoke_partner_tokens(rt, account.id)
        await password_changed_letter(rt, account, client)
        await record(
            rt, "password.changed", actor_id=account.id, subject_id=account.id, client=client,
            details={"first": first},
        )
    account.password_hash = password_hash
    account.password_changed_at = now
    return PasswordChanged(first)
