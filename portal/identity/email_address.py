"""The resident moves the account to a new e-mail address (issue 16), proven by a link sent there.

Request (after a proof, see `identity.proofs`): a single-use link valid 24 h goes to the new address
(`PORTAL_PUBLIC_URL/confirm-email?token=…`); the old address is told at once, with a "this was not me"
link. An address another account holds gets the same answer; no link goes there, its owner is told
that someone tried. Nothing changes until the link is opened (`confirm_email`): then the address
changes, and every live reset link and e-mail link of the account dies. "This was not me"
(`cancel_email_change`) voids a pending change, puts back the old address if the change went through,
and ends every session and partner grant.

Links are rows of `EmailToken` (keyed hashes, a `purpose` column), spent by one conditional UPDATE.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from tortoise.transactions import in_transaction

from portal.core.client import ClientInfo
from portal.core.errors import FieldCode, FieldProblem, Invalid, TooMany
from portal.core.runtime import Runtime
from portal.core.throttle import Limit
from portal.core.tokens import new_token
from portal.identity.email_change import mask_email
from portal.identity.identifiers import normalize_email
from portal.identity.proofs import Proved, ReauthNeeded, prove
from portal.identity.provider import revoke_partner_tokens
from portal.identity.reset import letter_language, void_reset_tokens
from portal.identity.sessions import revoke_sessions
from portal.identity.signin import BadCredentials
from portal.mail.outbox import enqueue
from portal.models.accounts import Account, AccountStatus, Session
from portal.models.audit import record
from portal.models.security import EmailToken

CHANGE = "email-change"
CANCEL = "email-change-cancel"
CHANGE_TTL = 24 * 3600
CANCEL_TTL = 7 * 24 * 3600  # the old address may read its letter late: "this was not me" works for a week
CONFIRM_PATH = "/confirm-email"
CANCEL_PATH = "/cancel-email-change"
# Change requests per account (each sends up to three letters): mail-bombing stops here.
CHANGES_PER_ACCOUNT = Limit("email_change.account", 5, 3600)
# Wrong, expired or used links per client address before the answer is TooManyAttempts.
WRONG_LINKS_PER_CLIENT = Limit("email_link.wrong.client", 10, 900)
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,128}$")


@dataclass(frozen=True)
class ChangeRequested:
    """The one answer, whether or not the new address is free."""


@dataclass(frozen=True)
class EmailConfirmed:
    account: Account


@dataclass(frozen=True)
class ChangeCancelled:
    account_id: UUID


@dataclass(frozen=True)
class BadLink:
    """Unknown, expired, used or voided: one answer (`InvalidToken`)."""


@dataclass(frozen=True)
class PendingChange:
    new_email: str
    requested_at: datetime
    expires_at: datetime


RequestOutcome = ChangeRequested | BadCredentials | ReauthNeeded | TooMany | Invalid


def link(rt: Runtime, path: str, token: str) -> str:
    """Built from PORTAL_PUBLIC_URL only, never from the request's Host."""
    return f"{rt.settings.public_url}{path}?token={token}"


def token_hash(rt: Runtime, purpose: str, token: str) -> str:
    return rt.tokens.digest(f"email-token:{purpose}", token)


async def issue_email_token(rt: Runtime, account_id: UUID, purpose: str, email: str | None, ttl: int) -> str:
    """Writes one link row (in the caller's transaction) and returns the token to mail."""
    token = new_token()
    now = rt.clock.now()
    await EmailToken.create(
        account_id=account_id, purpose=purpose, token_hash=token_hash(rt, purpose, token), email=email,
        created_at=now, expires_at=now + timedelta(seconds=ttl),
    )
    return token


async def spend_email_token(rt: Runtime, purpose: str, token: str) -> EmailToken | None:
    """Spends a live link of this purpose (one conditional UPDATE, in the caller's transaction); None otherwise."""
    if not _TOKEN_RE.match(token or ""):
        return None
    now = rt.clock.now()
    digest = token_hash(rt, purpose, token)
    spent = await EmailToken.filter(
        token_hash=digest, purpose=purpose, used_at__isnull=True, voided_at__isnull=True, expires_at__gt=now
    ).update(used_at=now)
    if not spent:
        return None
    return await EmailToken.filter(token_hash=digest).select_related("account").first()


async def void_email_tokens(account_id: UUID, purpose: str, now: datetime) -> int:
    return await EmailToken.filter(
        account_id=account_id, purpose=purpose, used_at__isnull=True, voided_at__isnull=True
    ).update(voided_at=now)


async def pending_change(rt: Runtime, account_id: UUID) -> PendingChange | None:
    """The address waiting for its link to be opened, if any."""
    row = (
        await EmailToken.filter(
            account_id=account_id, purpose=CHANGE, used_at__isnull=True, voided_at__isnull=True,
            expires_at__gt=rt.clock.now(),
        )
        .order_by("-created_at")
        .first()
    )
    return PendingChange(row.email, row.created_at, row.expires_at) if row and row.email else None


async def request_email_change(
    rt: Runtime, session: Session, new_email: str, current_password: str, client: ClientInfo
) -> RequestOutcome:
    account = session.account
    try:
        address = normalize_email(new_email, "newEmail")
    except FieldProblem as problem:
        return Invalid.of(problem)
    if address == account.email:
        return Invalid.of(FieldProblem("newEmail", FieldCode.SAME_EMAIL))
    proof = await prove(rt, session, current_password, client)
    if not isinstance(proof, Proved):
        return proof
    if (limited := await rt.throttle.hit(CHANGES_PER_ACCOUNT, str(account.id))) is not None:
        return limited
    holder = await Account.filter(email=address).exclude(id=account.id).first()
    now = rt.clock.now()
    lang = letter_language(account, client)
    async with in_transaction():
        await void_email_tokens(account.id, CHANGE, now)  # one pending change at a time: the newest
        if holder is None:
            token = await issue_email_token(rt, account.id, CHANGE, address, CHANGE_TTL)
            await enqueue(
                rt, template="email_change_confirm", to=address, lang=lang,
                context={
                    "full_name": account.full_name, "confirm_url": link(rt, CONFIRM_PATH, token), "valid_hours": 24,
                },
                expires_at=now + timedelta(seconds=CHANGE_TTL),
            )
        elif holder.email and holder.status == AccountStatus.ACTIVE:
            await enqueue(
                rt, template="email_change_attempt", to=holder.email, lang=holder.preferred_language or "ru",
                context={"full_name": holder.full_name, "attempted_at": now},
            )
        if account.email:
            cancel = await issue_email_token(rt, account.id, CANCEL, account.email, CANCEL_TTL)
            await enqueue(
                rt, template="email_change_requested", to=account.email, lang=lang,
                context={
                    "full_name": account.full_name, "new_email_masked": mask_email(address), "requested_at": now,
                    "cancel_url": link(rt, CANCEL_PATH, cancel), "client_address": client.address,
                },
            )
        await record(
            rt, "email.change_requested", actor_id=account.id, subject_id=account.id, client=client,
            details={"new_email": mask_email(address), "held_by_other": holder is not None},
        )
    return ChangeRequested()


async def _refused(rt: Runtime, client: ClientInfo) -> BadLink:
    await rt.throttle.hit(WRONG_LINKS_PER_CLIENT, client.address)
    return BadLink()


class _Abandon(Exception):
    """Rolls a link's spending back (the address was taken meanwhile, the account disabled)."""


async def confirm_email(rt: Runtime, token: str, client: ClientInfo) -> EmailConfirmed | BadLink | TooMany:
    """`confirmEmail` for an e-mail change: the address changes now; reset and e-mail links die."""
    if (limited := await rt.throttle.check(WRONG_LINKS_PER_CLIENT, client.address)) is not None:
        return limited
    now = rt.clock.now()
    try:
        async with in_transaction():
            row = await spend_email_token(rt, CHANGE, token)
            if row is None or not row.email or row.account.status != AccountStatus.ACTIVE:
                raise _Abandon
            account = row.account
            if await Account.filter(email=row.email).exclude(id=account.id).exists():
                raise _Abandon  # someone took the address since: the link is dead, the old address stays
            old = account.email
            await Account.filter(id=account.id).update(email=row.email, email_verified=True)
            await void_reset_tokens(rt, account.id)  # a reset link mailed to the old address dies
            await void_email_tokens(account.id, CHANGE, now)
            await record(
                rt, "email.changed", actor_id=account.id, subject_id=account.id, client=client,
                details={"old_email": mask_email(old) if old else None, "new_email": mask_email(row.email)},
            )
    except _Abandon:
        return await _refused(rt, client)
    account.email, account.email_verified = row.email, True
    return EmailConfirmed(account)


async def cancel_email_change(rt: Runtime, token: str, client: ClientInfo) -> ChangeCancelled | BadLink | TooMany:
    """"This was not me": no pending change survives, the old address comes back, every session ends."""
    if (limited := await rt.throttle.check(WRONG_LINKS_PER_CLIENT, client.address)) is not None:
        return limited
    now = rt.clock.now()
    async with in_transaction():
        row = await spend_email_token(rt, CANCEL, token)
        if row is None or not row.email:
            return await _refused(rt, client)
        account = row.account
        await void_email_tokens(account.id, CHANGE, now)
        restored = False
        if account.email != row.email and not await Account.filter(email=row.email).exclude(id=account.id).exists():
            await Account.filter(id=account.id).update(email=row.email, email_verified=True)
            await void_reset_tokens(rt, account.id)
            restored = True
        await revoke_sessions(rt, account_id=account.id)
        await revoke_partner_tokens(rt, account.id)
        await record(
            rt, "email.change_cancelled", actor_id=account.id, subject_id=account.id, client=client,
            details={"restored": restored},
        )
    return ChangeCancelled(account.id)
