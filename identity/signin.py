"""Sign-in with a password: one answer and one cost for every kind of failure."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from api.runtime import Runtime
from identity.accounts import find_account
from identity.client import ClientInfo
from identity.errors import FieldProblem, Invalid, TooMany
from identity.identifiers import has_control_characters, parse_identifier
from identity.sessions import IssuedSession, issue_session
from support.audit import record


@dataclass(frozen=True)
class BadCredentials:
    """Unknown identifier, wrong password, disabled or password-less account: indistinguishable."""


LoginOutcome = IssuedSession | BadCredentials | TooMany | Invalid


async def login(rt: Runtime, identifier: str, password: str, client: ClientInfo) -> LoginOutcome:
    s = rt.settings
    if len(password) > s.password_max_length:  # refused before any hashing
        return Invalid.of(FieldProblem("password", "PASSWORD_TOO_LONG", max=s.password_max_length))
    if not password:
        return Invalid.of(FieldProblem("password", "REQUIRED"))
    if has_control_characters(identifier):
        return Invalid.of(FieldProblem("identifier", "INVALID_CHARACTERS"))
    try:
        parsed = parse_identifier(identifier, s.default_region)
    except FieldProblem as problem:
        if problem.code in ("REQUIRED", "TOO_LONG"):
            return Invalid.of(problem)
        parsed = None  # malformed but harmless: answered exactly like an unknown identifier

    account = await find_account(parsed) if parsed else None
    usable = account is not None and account.is_active and account.password_hash is not None
    ok = await rt.passwords.verify(account.password_hash if usable and account else None, password)
    if not ok or account is None or not usable:
        # Written for unknown identifiers too, so every failure costs the same work.
        await record(rt, "signin.failure", subject_id=account.id if account else None, client=client)
        return BadCredentials()

    if account.password_hash and rt.passwords.needs_rehash(account.password_hash):
        account.password_hash = await rt.passwords.hash(password)
        await account.save(update_fields=["password_hash"])
    if client.locale != account.preferred_language:
        account.preferred_language = client.locale
        await account.save(update_fields=["preferred_language"])
    issued = await issue_session(rt, account, client, "pwd")
    await record(rt, "signin.success", actor_id=account.id, subject_id=account.id, client=client)
    return issued


async def clear_signin_lock(rt: Runtime, account_id: UUID) -> None:
    """Lifts any sign-in lock on the account: called after a completed password reset and an operator's unlock.

    A seam until the sign-in lock exists: the throttling work fills it in (`rt.throttle.reset(<its Limit>, key)`).
    """
    return None
