"""Password reset by a mailed single-use link: the same answer and work for everyone, one atomic spend.

Request: every identifier (local account, unknown, disabled, password-less, phone-only, malformed) runs
the same statements in one transaction: find the account, void older tokens, insert a token row, write an
outbox row, append an audit event. Only the owner of an active local account with an e-mail gets a link;
a federated-only owner gets a letter saying there is no password to reset; everyone else gets a decoy
token (born voided, no account) and a decoy outbox row that is never sent. The request never talks to SMTP.

Reset: the token (stored only as a keyed hash) is spent by one conditional UPDATE; in the same transaction
the new hash is stored, every other token voided, every session revoked and the "password changed" letter
queued. No automatic sign-in.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from portal.core.client import ClientInfo
from portal.core.errors import FieldCode, FieldProblem, Invalid, TooMany
from portal.core.metrics import RESETS_COMPLETED, RESETS_REQUESTED
from portal.core.runtime import Runtime
from portal.core.throttle import Limit
from portal.core.tokens import new_token
from portal.identity.accounts import find_account
from portal.identity.email_change import apply_pending_email_change
from portal.identity.identifiers import Identifier, read_lookup_identifier
from portal.identity.passwords import check_password_policy
from portal.identity.provider import revoke_partner_tokens
from portal.identity.sessions import revoke_sessions
from portal.identity.signin import clear_signin_lock
from portal.mail.outbox import decoy_statement, enqueue, enqueue_statement
from portal.models.accounts import Account, AccountStatus
from portal.models.audit import record, record_statement
from portal.models.batch import InsertRow, Statement, execute, write_atomically
from portal.models.federation import FederatedIdentity
from portal.models.reset import PasswordResetToken

# Reset letters per account (or per unknown identifier): beyond this the answer is unchanged and nothing is sent.
RESET_LETTERS_PER_ACCOUNT = Limit("reset.letters.account", 3, 3600)
# Reset requests per client address (the same answer would otherwise be a free enumeration oracle).
RESET_REQUESTS_PER_CLIENT = Limit("reset.requests.client", 30, 900)
# Wrong, expired or used tokens per client address before resetPassword answers TooManyAttempts.
WRONG_TOKENS_PER_CLIENT = Limit("reset.wrong_token.client", 10, 900)
# Every request answers no sooner than this after it began, so what little its work still varies (a row
# found or not: about 0.1 ms) is hidden under a constant; far above the request's own p99 of a few ms.
REQUEST_FLOOR_SECONDS = 0.05

TOKEN_PURPOSE = "password-reset"
RESET_PATH = "/reset-password"
FORGOT_PATH = "/forgot-password"
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,128}$")
_NOBODY = uuid.UUID(int=0)  # an id no account has: the "same query" for identifiers that match nothing


@dataclass(frozen=True)
class ResetRequested:
    """The one answer to every request, whoever asked."""


@dataclass(frozen=True)
class PasswordReset:
    """The password was changed; every session of the account is gone."""

    account_id: uuid.UUID


@dataclass(frozen=True)
class BadToken:
    """Unknown, expired, used or voided: one answer (`InvalidToken`)."""


RequestOutcome = ResetRequested | TooMany | Invalid
ResetOutcome = PasswordReset | BadToken | Invalid | TooMany


def reset_link(rt: Runtime, token: str) -> str:
    """Built from PORTAL_PUBLIC_URL only, never from the request's Host."""
    return f"{rt.settings.public_url}{RESET_PATH}?token={token}"


def letter_language(account: Account, client: ClientInfo) -> str:
    """The account's preferred language, else the request's (mail.render falls back to PORTAL_LANGUAGES' first)."""
    return account.preferred_language or client.locale


async def _provider_names(rt: Runtime, account: Account) -> list[str]:
    """Names of the providers an account signs in through: read with the account by `find_account`."""
    ids = account.provider_ids
    if ids is None:  # the row came another way (a backend without the hand-written lookup)
        linked = await FederatedIdentity.filter(account_id=account.id)
        ids = tuple(identity.provider for identity in linked)
    return sorted({rt.providers.name_of(provider) for provider in ids})


_TOKEN_ROW = InsertRow(
    PasswordResetToken, ("account_id", "token_hash", "created_at", "expires_at", "voided_at", "client_address")
)


def _void_live_tokens(account_id: uuid.UUID, now: datetime) -> Statement:
    """Every live reset token of the account dies (one live token per account: the newest one)."""
    meta = PasswordResetToken._meta
    convert = meta.fields_map["voided_at"].to_db_value
    sql = (
        f'UPDATE "{meta.db_table}" SET "voided_at" = ? '  # noqa: S608 - names from the model's metadata
        'WHERE "account_id" = ? AND "used_at" IS NULL AND "voided_at" IS NULL'
    )
    return Statement(sql, (convert(now, PasswordResetToken), str(account_id)))


async def request_password_reset(rt: Runtime, identifier: str, client: ClientInfo) -> RequestOutcome:
    """`requestPasswordReset`: the same answer, work and time for every identifier."""
    started = time.perf_counter()
    s = rt.settings
    try:
        parsed = read_lookup_identifier(identifier, s.default_region)
    except FieldProblem as problem:
        return Invalid.of(problem)
    limited = await rt.throttle.hit(RESET_REQUESTS_PER_CLIENT, client.address)
    if limited is not None:
        return limited

    account = await find_account(parsed or Identifier("email", ""))
    kind: str | None = None
    if account is not None and account.is_active and account.email:
        kind = "link" if account.password_hash is not None else "no_password"
    letters_key = str(account.id) if account else f"{parsed.kind}:{parsed.value}" if parsed else "malformed"
    if await rt.throttle.hit(RESET_LETTERS_PER_ACCOUNT, letters_key) is not None:
        kind = None  # mail-bombing: the same answer, no letter
    providers = await _provider_names(rt, account) if account and kind == "no_password" else []

    now = rt.clock.now()
    expires = now + timedelta(seconds=s.reset_token_ttl)
    token = new_token()
    owner = account if kind == "link" else None
    lang = letter_language(account, client) if account else client.locale
    context: dict[str, Any] = {
        "full_name": account.full_name if account else "",
        "reset_url": reset_link(rt, token),
        "valid_minutes": s.reset_token_ttl // 60,
    }
    if kind == "link" and account is not None and account.email:
        letter = enqueue_statement(
            rt, template="password_reset", to=account.email, lang=lang, context=context, expires_at=expires
        )
    elif kind == "no_password" and account is not None and account.email:
        letter = enqueue_statement(
            rt,
            template="password_reset_no_password",
            to=account.email,
            lang=lang,
            context={"full_name": account.full_name, "providers": providers},
        )
    else:
        letter = decoy_statement(rt, template="password_reset", context=context)
    # The same four writes for everyone, all or none, in one trip (models.batch): void older tokens (one live
    # token per account: the newest), the token (a decoy is born voided, with no account), the letter, the audit.
    await write_atomically(
        [
            _void_live_tokens(owner.id if owner else _NOBODY, now),
            _TOKEN_ROW.row(
                account_id=owner.id if owner else None,
                token_hash=rt.tokens.digest(TOKEN_PURPOSE, token),
                created_at=now,
                expires_at=expires if owner else now,
                voided_at=None if owner else now,
                client_address=client.address,
            ),
            letter,
            record_statement(
                rt,
                "password.reset_requested",
                subject_id=account.id if account else None,
                client=client,
                details={"letter": kind or "none"},
            ),
        ]
    )
    await asyncio.sleep(max(0.0, REQUEST_FLOOR_SECONDS - (time.perf_counter() - started)))
    RESETS_REQUESTED.inc()
    return ResetRequested()


class _Abandon(Exception):
    """Rolls the reset transaction back: the token was spent meanwhile, or the account was disabled."""


def policy_problems(rt: Runtime, account: Account, new_password: str, confirmation: str) -> list[FieldProblem]:
    """The policy on `newPassword`, then the confirmation: the same codes for resetPassword and changePassword."""
    s = rt.settings
    try:
        check_password_policy(
            new_password,
            min_length=s.password_min_length,
            max_length=s.password_max_length,
            context=(account.email, account.login, account.phone),
            field="newPassword",
        )
    except FieldProblem as problem:
        return [problem]
    if new_password != confirmation:
        return [FieldProblem("newPasswordConfirmation", FieldCode.PASSWORDS_DO_NOT_MATCH)]
    return []


async def reset_password(
    rt: Runtime, token: str, new_password: str, confirmation: str, client: ClientInfo
) -> ResetOutcome:
    """`resetPassword`: checks the token, then the new password; a rejected password leaves the token usable."""
    limited = await rt.throttle.check(WRONG_TOKENS_PER_CLIENT, client.address)
    if limited is not None:
        return limited
    row: PasswordResetToken | None = None
    token = token or ""
    if _TOKEN_RE.match(token):
        row = (
            await PasswordResetToken.filter(
                token_hash=rt.tokens.digest(TOKEN_PURPOSE, token),
                used_at__isnull=True,
                voided_at__isnull=True,
                expires_at__gt=rt.clock.now(),
                account__status=AccountStatus.ACTIVE,
            )
            .select_related("account")
            .first()
        )
    if row is None or row.account is None:
        await rt.throttle.hit(WRONG_TOKENS_PER_CLIENT, client.address)
        return BadToken()
    account: Account = row.account

    if problems := policy_problems(rt, account, new_password, confirmation):
        return Invalid(problems)

    password_hash = await rt.passwords.hash(new_password)
    now = rt.clock.now()
    try:
        async with in_transaction():
            spent = await PasswordResetToken.filter(
                id=row.id, used_at__isnull=True, voided_at__isnull=True, expires_at__gt=now
            ).update(used_at=now)
            if not spent:
                raise _Abandon
            changed = await Account.filter(id=account.id, status=AccountStatus.ACTIVE).update(
                password_hash=password_hash, password_changed_at=now
            )
            if not changed:
                raise _Abandon
            # Staff's assisted recovery may have bound an e-mail change to this very link (support.desk).
            await apply_pending_email_change(rt, row.id, account)
            await void_reset_tokens(rt, account.id)
            await revoke_sessions(rt, account_id=account.id)
            await revoke_partner_tokens(rt, account.id)  # partners' tokens too (identity/provider)
            await password_changed_letter(rt, account, client)
            await record(rt, "password.reset", actor_id=account.id, subject_id=account.id, client=client)
    except _Abandon:
        await rt.throttle.hit(WRONG_TOKENS_PER_CLIENT, client.address)
        return BadToken()
    await clear_signin_lock(rt, account.id)  # a reset lifts any sign-in lock (docs/security.md #15)
    RESETS_COMPLETED.inc()
    return PasswordReset(account.id)


async def password_changed_letter(rt: Runtime, account: Account, client: ClientInfo) -> None:
    """"Your password was changed" (by a reset or from the account page), in the caller's transaction."""
    if account.email:
        await enqueue(
            rt,
            template="password_changed",
            to=account.email,
            lang=letter_language(account, client),
            context={
                "full_name": account.full_name,
                "changed_at": rt.clock.now(),
                "client_address": client.address,
                "user_agent": (client.user_agent or "")[:120] or None,
                "forgot_url": rt.settings.public_url + FORGOT_PATH,
            },
        )


async def void_reset_tokens(rt: Runtime, account_id: uuid.UUID) -> int:
    """Kills every live reset link of an account: on a password or e-mail change, on disabling and erasure."""
    return await execute(_void_live_tokens(account_id, rt.clock.now()))


async def issue_reset_link(rt: Runtime, account: Account, to: str, lang: str) -> int:
    """A fresh reset link for the account (older ones die) mailed to `to`, joining the caller's transaction.

    Staff's assisted recovery sends it to the account's own or a newly approved address; returns the token's id.
    """
    now = rt.clock.now()
    expires = now + timedelta(seconds=rt.settings.reset_token_ttl)
    token = new_token()
    token_hash = rt.tokens.digest(TOKEN_PURPOSE, token)
    context = {"full_name": account.full_name, "reset_url": reset_link(rt, token),
               "valid_minutes": rt.settings.reset_token_ttl // 60}
    await write_atomically(
        [
            _void_live_tokens(account.id, now),
            _TOKEN_ROW.row(account_id=account.id, token_hash=token_hash, created_at=now, expires_at=expires,
                           voided_at=None, client_address=None),
            enqueue_statement(rt, template="password_reset", to=to, lang=lang, context=context, expires_at=expires),
        ]
    )
    row = await PasswordResetToken.get(token_hash=token_hash).only("id")
    return int(row.id)


async def prune_reset_tokens(rt: Runtime) -> int:
    """Deletes tokens (and decoys) a day after they stopped mattering."""
    return int(await PasswordResetToken.filter(expires_at__lt=rt.clock.now() - timedelta(days=1)).delete())
