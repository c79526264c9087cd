"""Sign-in with a password: one answer and one cost for every kind of failure, and the guessing lock.

Failures are counted per account and identifier kind (never per address), reserved atomically before
the password is checked, with growing waits and a 15-minute lock from the 10th consecutive failure
(NIST SP 800-63B-4 asks for a limit well before 100). An unknown identifier gets the same schedule under
a keyed hash of the identifier, so the lock reveals nothing about existence, and that count never
touches an account created later (accounts are counted by id). Per-client-address failure limits come
on top.

Why per identifier, not per account: a lock shared by an account's e-mail, phone and login would let a
stranger link them (five wrong passwords by e-mail, then the phone answers `TooManyAttempts` where an
unknown phone answers `InvalidCredentials`: the phone is the same person's). Keyed by what was typed,
every identifier answers exactly like an unknown one would. The price is bounded: an account has at most
three identifiers, so at most 30 consecutive guesses before every way in is locked, still well before
100 (docs/security.md #14). A success or a completed reset clears all three. See docs/hostile-input.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from portal.core.client import ClientInfo
from portal.core.errors import FieldCode, FieldProblem, Invalid, TooMany
from portal.core.metrics import SIGNINS
from portal.core.runtime import Runtime
from portal.core.throttle import Backoff, Limit
from portal.identity.accounts import find_account
from portal.identity.challenge import SecondFactorNeeded, begin_if_needed
from portal.identity.identifiers import Identifier, read_lookup_identifier
from portal.identity.personal_accounts import number_in_identifier, sole_holder
from portal.identity.sessions import IssuedSession, issue_session
from portal.models.audit import record, record_statement

# Waits after the 1st..10th consecutive failure (the last repeats): free, then 2-32 s, then 15-minute locks.
SIGNIN_BACKOFF = Backoff(
    "signin",
    delays=(0, 0, 0, 0, 2, 4, 8, 16, 32, 900),
    hard_limit=100,  # never more than 100 consecutive failures: then locked for a day or until a reset
    hard_seconds=24 * 3600,
    keep=24 * 3600,
)
LOCK_AFTER = 10
CLIENT_WINDOW = 600


def client_limit(rt: Runtime) -> Limit:
    """Failed sign-ins per client address (any accounts) per 10 minutes."""
    return Limit("signin-client", rt.settings.signin_client_max_failures, CLIENT_WINDOW)


# "reauth": the current password asked again of a signed-in session (identity.proofs) has a count of its
# own, so a stolen session guessing the password cannot lock its owner out of signing in.
LockKind = Literal["email", "phone", "login", "reauth"]
KINDS: tuple[LockKind, ...] = ("email", "phone", "login", "reauth")


def account_key(account_id: UUID, kind: LockKind) -> str:
    """One account's count for one of its identifiers (by kind: an account has one of each at most)."""
    return f"account:{account_id}:{kind}"


def unknown_key(rt: Runtime, parsed: Identifier | None, raw: str) -> str:
    """An identifier without an account, as a keyed hash (no personal data in the store)."""
    text = f"{parsed.kind}:{parsed.value}" if parsed else f"raw:{raw.strip().casefold()}"
    return "unknown:" + rt.tokens.digest("signin-unknown", text)[:32]


@dataclass(frozen=True)
class BadCredentials:
    """Unknown identifier, wrong password, disabled or password-less account: indistinguishable."""


LoginOutcome = IssuedSession | SecondFactorNeeded | BadCredentials | TooMany | Invalid


async def login(rt: Runtime, identifier: str, password: str, client: ClientInfo) -> LoginOutcome:
    outcome = await _login(rt, identifier, password, client)
    SIGNINS.labels(_OUTCOME_NAMES.get(type(outcome), type(outcome).__name__)).inc()
    return outcome


_OUTCOME_NAMES = {
    IssuedSession: "success", BadCredentials: "invalid_credentials", TooMany: "throttled", Invalid: "invalid"
}


async def _login(rt: Runtime, identifier: str, password: str, client: ClientInfo) -> LoginOutcome:
    s = rt.settings
    if len(password) > s.password_max_length:  # refused before any hashing
        return Invalid.of(FieldProblem("password", FieldCode.PASSWORD_TOO_LONG, max=s.password_max_length))
    if not password:
        return Invalid.of(FieldProblem("password", FieldCode.REQUIRED))
    try:
        parsed = read_lookup_identifier(identifier, s.default_region)
    except FieldProblem as problem:
        return Invalid.of(problem)

    per_client = client_limit(rt)
    if (blocked := await rt.throttle.check(per_client, client.address)) is not None:
        return blocked

    account = await find_account(parsed) if parsed else None
    if s.signin_by_personal_account and (number := number_in_identifier(s.personal_account_pattern, identifier)):
        # A personal account number (docs/registry.md): its one holder, else exactly like an unknown identifier.
        account, parsed = await sole_holder(number), Identifier("login", "pa:" + number)
    # The same store round trip for every caller; a blocked attempt never runs a hash.
    key = account_key(account.id, parsed.kind) if account and parsed else unknown_key(rt, parsed, identifier)
    if (blocked := await rt.throttle.attempt(SIGNIN_BACKOFF, key)) is not None:
        return blocked
    usable = account is not None and account.is_active and account.password_hash is not None
    ok = await rt.passwords.verify(account.password_hash if usable and account else None, password)
    if not ok or account is None or not usable:
        # Written for unknown identifiers too, so every failure costs the same work.
        await rt.throttle.hit(per_client, client.address)
        await record(rt, "signin.failure", subject_id=account.id if account else None, client=client)
        return BadCredentials()
    await clear_signin_lock(rt, account.id)

    if account.password_hash and rt.passwords.needs_rehash(account.password_hash):
        account.password_hash = await rt.passwords.hash(password)
        await account.save(update_fields=["password_hash"])
    if client.locale != account.preferred_language:
        account.preferred_language = client.locale
        await account.save(update_fields=["preferred_language"])
    if (second := await begin_if_needed(rt, account)) is not None:  # the password alone is not enough
        await record(rt, "signin.password_ok", actor_id=account.id, subject_id=account.id, client=client)
        return second
    # The session and its audit record: one atomic write (one commit, one trip to the database).
    audit = record_statement(rt, "signin.success", actor_id=account.id, subject_id=account.id, client=client)
    return await issue_session(rt, account, client, "pwd", also=[audit])


async def clear_signin_lock(rt: Runtime, account_id: UUID) -> None:
    """Lifts any sign-in lock on the account, by every identifier: called after a success, a completed
    password reset and an operator's unlock."""
    for kind in KINDS:
        await rt.throttle.clear(SIGNIN_BACKOFF, account_key(account_id, kind))
