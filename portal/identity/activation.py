"""Residents join: codes printed on the bill, mailed invitations, and the activation that spends either.

A personal account from the registry (identity.registry) is claimed by whoever proves a right to it:
- the code on the bill: `issue_codes` gives every unclaimed personal account a fresh code (a new export voids
  the older ones), 10 symbols of a 32-letter alphabet without 0/O/1/I (50 bits), grouped `XXXXX-XXXXX`;
  stored only as a keyed hash bound to the number, dated, single use;
- an invitation: `send_invitations` mails the registry's address a 256-bit link (7 days, single use, a new
  one voids the older), the letters spaced out in the outbox.

`activate` answers every wrong number, wrong code, used, expired or voided code and bad invitation token
alike (`BadActivation`), throttled per client address and per personal account number (also for numbers
that do not exist, under a keyed hash, so the throttle is no oracle). With at most 10 wrong codes per
number per day a 50-bit code takes about 2^49 / 10 ≈ 5.6·10^13 days to guess on average; a code lives
for weeks (docs/registry.md has the arithmetic). Every attempt is audited.

An activation by code creates the resident's account without an e-mail address: the given address gets a
confirmation link first (identity.email_confirmation), so it cannot be used to sign in or to reset before
its owner proved it. An invitation was mailed to the registry's address, so that address is proven.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from portal.core.client import ClientInfo
from portal.core.errors import FieldCode, FieldProblem, Invalid, TooMany
from portal.core.runtime import Runtime
from portal.core.throttle import Limit
from portal.core.tokens import new_token
from portal.identity.email_confirmation import ACTIVATION, issue_confirmation
from portal.identity.identifiers import normalize_email
from portal.identity.passwords import check_password_policy
from portal.identity.personal_accounts import read_number
from portal.identity.sessions import IssuedSession, issue_session
from portal.mail.outbox import enqueue_spaced
from portal.models.accounts import Account, AccountStatus
from portal.models.audit import record, record_statement
from portal.models.residents import PersonalAccount, ResidentToken

CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # 32 symbols, 5 bits each; no 0/O/1/I to misread
CODE_GROUPS = (5, 5)  # 50 bits (docs/security.md #57 asks for at least 40)
CODE_BITS = 5 * sum(CODE_GROUPS)
CODE = "code"
INVITE = "invite"
INVITE_TTL = timedelta(days=7)
ACTIVATE_PATH = "/activate"
CODE_PURPOSE = "activation-code"
INVITE_PURPOSE = "activation-invite"
# Wrong activations per personal account number per day, and per client address per hour.
WRONG_PER_NUMBER = Limit("activation.wrong.number", 10, 24 * 3600)
WRONG_PER_CLIENT = Limit("activation.wrong.client", 20, 3600)
# Cyrillic letters that look like Latin ones on a printed bill (typed on a Russian keyboard layout).
_LOOKALIKES = str.maketrans("АВЕКМНОРСТУХаеорсху", "ABEKMHOPCTYXAEOPCXY")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,128}$")
BATCH = 1000


@dataclass(frozen=True, slots=True)
class IssuedCode:
    number: str
    code: str
    valid_until: datetime
    address: str
    full_name: str | None


@dataclass(frozen=True)
class Activated:
    account: Account
    session: IssuedSession
    confirmation_sent: bool  # the given address waits for its link (activation by code)


@dataclass(frozen=True)
class BadActivation:
    """Wrong number, wrong code, used, expired, voided, bad invitation token: one answer."""


ActivationOutcome = Activated | BadActivation | Invalid | TooMany


def new_code() -> str:
    groups = ("".join(secrets.choice(CODE_ALPHABET) for _ in range(n)) for n in CODE_GROUPS)
    return "-".join(groups)


def read_code(raw: str) -> str | None:
    """What a resident typed: spaces, dashes and case ignored, Cyrillic look-alikes read as Latin."""
    value = "".join(ch for ch in raw.translate(_LOOKALIKES).upper() if ch not in " -\t")
    if len(value) != sum(CODE_GROUPS) or any(ch not in CODE_ALPHABET for ch in value):
        return None
    return value


def code_hash(rt: Runtime, number: str, code: str) -> str:
    """Bound to the number: a code opens only its own personal account."""
    return rt.tokens.digest(CODE_PURPOSE, f"{number}:{code}")


def invitation_link(rt: Runtime, token: str) -> str:
    return f"{rt.settings.public_url}{ACTIVATE_PATH}?token={token}"


async def _void(kind: str, ids: Sequence[int], now: datetime) -> None:
    for start in range(0, len(ids), BATCH):
        await ResidentToken.filter(
            kind=kind, personal_account_id__in=ids[start:start + BATCH], used_at__isnull=True, voided_at__isnull=True
        ).update(voided_at=now)


# ---------------------------------------------------------------- codes for the bill


async def issue_codes(rt: Runtime, valid_until: datetime) -> list[IssuedCode]:
    """A fresh code for every unclaimed personal account; the older codes die. The codes leave only here."""
    now = rt.clock.now()
    accounts = await PersonalAccount.filter(claimed_at__isnull=True).order_by("number")
    issued: list[IssuedCode] = []
    rows: list[ResidentToken] = []
    for pa in accounts:
        code = new_code()
        issued.append(IssuedCode(pa.number, code, valid_until, pa.address, pa.full_name))
        rows.append(ResidentToken(kind=CODE, personal_account_id=pa.id,
                                  token_hash=code_hash(rt, pa.number, code.replace("-", "")),
                                  created_at=now, expires_at=valid_until))
    async with in_transaction():
        await _void(CODE, [pa.id for pa in accounts], now)
        for start in range(0, len(rows), BATCH):
            await ResidentToken.bulk_create(rows[start:start + BATCH])
        details = {"count": len(rows), "valid_until": valid_until.isoformat()}
        await record(rt, "activation.codes_issued", details=details)
    return issued


# ---------------------------------------------------------------- invitations


async def send_invitations(rt: Runtime, numbers: Sequence[str] | None = None, lang: str = "ru") -> int:
    """Mails a set-your-password link to each unclaimed personal account with an e-mail (all, or `numbers`)."""
    query = PersonalAccount.filter(claimed_at__isnull=True, email__isnull=False)
    accounts: list[PersonalAccount] = []
    if numbers is None:
        accounts = await query.order_by("number")
    else:
        wanted = list(numbers)
        for start in range(0, len(wanted), BATCH):
            accounts += await query.filter(number__in=wanted[start:start + BATCH]).order_by("number")
    now = rt.clock.now()
    expires = now + INVITE_TTL
    rows: list[ResidentToken] = []
    letters: list[tuple[str, str, dict[str, Any], datetime | None]] = []
    for pa in accounts:
        token = new_token()
        rows.append(ResidentToken(kind=INVITE, personal_account_id=pa.id, email=pa.email,
                                  token_hash=rt.tokens.digest(INVITE_PURPOSE, token),
                                  created_at=now, expires_at=expires))
        letters.append((pa.email or "", lang, {
            "full_name": pa.full_name or "", "number": pa.number, "address": pa.address,
            "activate_url": invitation_link(rt, token), "valid_until": expires,
        }, expires))
    async with in_transaction():
        await _void(INVITE, [pa.id for pa in accounts], now)
        for start in range(0, len(rows), BATCH):
            await ResidentToken.bulk_create(rows[start:start + BATCH])
        await enqueue_spaced(rt, template="resident_invitation", letters=letters,
                             per_minute=rt.settings.invitation_letters_per_minute)
        await record(rt, "activation.invitations_sent", details={"count": len(rows)})
    return len(rows)


# ---------------------------------------------------------------- activation


@dataclass(frozen=True)
class ActivationRequest:
    personal_account: str | None
    activation_code: str | None
    invitation_token: str | None
    email: str | None
    password: str
    password_confirmation: str
    personal_data_consent: bool


def _check(rt: Runtime, req: ActivationRequest, joining: bool) -> tuple[str | None, list[FieldProblem]]:
    """The form's own problems (nothing about whether the code is right); returns the normalised e-mail.

    A new account by code needs an e-mail; a signed-in resident (`joining`) keeps the account's own."""
    problems: list[FieldProblem] = []
    email = None
    by_code = not req.invitation_token
    if by_code:
        required = [("personalAccount", req.personal_account), ("activationCode", req.activation_code)]
        for name, value in required if joining else [*required, ("email", req.email)]:
            if not (value or "").strip():
                problems.append(FieldProblem(name, FieldCode.REQUIRED))
        for name, value in (("personalAccount", req.personal_account), ("activationCode", req.activation_code)):
            if len(value or "") > 64:
                problems.append(FieldProblem(name, FieldCode.TOO_LONG, max=64))
        if (req.email or "").strip():
            try:
                email = normalize_email(req.email or "", "email")
            except FieldProblem as problem:
                problems.append(problem)
    elif len(req.invitation_token or "") > 200:
        problems.append(FieldProblem("invitationToken", FieldCode.TOO_LONG, max=200))
    s = rt.settings
    try:
        check_password_policy(req.password, min_length=s.password_min_length, max_length=s.password_max_length,
                              context=(email,))
    except FieldProblem as problem:
        problems.append(problem)
    if not problems and req.password != req.password_confirmation:
        problems.append(FieldProblem("passwordConfirmation", FieldCode.PASSWORDS_DO_NOT_MATCH))
    if not req.personal_data_consent:
        problems.append(FieldProblem("personalDataConsent", FieldCode.CONSENT_REQUIRED))
    return email, problems


def _number_key(rt: Runtime, number: str) -> str:
    return rt.tokens.digest("activation-number", number)[:32]


async def _find_token(rt: Runtime, req: ActivationRequest, number: str | None) -> ResidentToken | None:
    now = rt.clock.now()
    live: dict[str, Any] = {"used_at__isnull": True, "voided_at__isnull": True, "expires_at__gt": now}
    if req.invitation_token:
        if not _TOKEN_RE.match(req.invitation_token):
            return None
        token_hash = rt.tokens.digest(INVITE_PURPOSE, req.invitation_token)
        query = ResidentToken.filter(kind=INVITE, token_hash=token_hash, **live)
    else:
        code = read_code(req.activation_code or "")
        if number is None or code is None:
            return None
        query = ResidentToken.filter(kind=CODE, token_hash=code_hash(rt, number, code), **live)
    return await query.select_related("personal_account").first()


class _Abandon(Exception):
    """Rolls an activation back: the token was spent meanwhile."""


async def activate(
    rt: Runtime, req: ActivationRequest, client: ClientInfo, signed_in: Account | None = None
) -> ActivationOutcome:
    """`activateAccount` and the /activate page: claim the personal account, create or join the account, sign in.

    A resident already signed in (`signed_in`) who claims another flat joins it to that account, proving it
    with the account's own password; so does an invitation mailed to an address an account already has.
    """
    email, problems = _check(rt, req, joining=signed_in is not None)
    if problems:
        return Invalid(problems)
    number = None if req.invitation_token else read_number(req.personal_account or "")
    number_key = _number_key(rt, number or (req.personal_account or "").strip().upper())
    if (limited := await rt.throttle.check(WRONG_PER_CLIENT, client.address)) is not None:
        return limited
    if not req.invitation_token and (limited := await rt.throttle.check(WRONG_PER_NUMBER, number_key)) is not None:
        return limited

    token = await _find_token(rt, req, number)
    if token is None:
        return await _refuse(rt, req, client, number_key)
    pa: PersonalAccount = token.personal_account
    via = token.kind
    # An invitation proves its address: when an account already has it, the flat joins that account, and
    # the password typed must be that account's own (a code proves no address: it joins only the signed-in one).
    existing = signed_in
    if existing is None and via == INVITE and token.email:
        existing = await Account.filter(email=token.email).first()
    if existing is not None:
        usable = existing.is_active and existing.password_hash is not None
        if not await rt.passwords.verify(existing.password_hash if usable else None, req.password) or not usable:
            return Invalid.of(FieldProblem("password", FieldCode.WRONG_PASSWORD))
        password_hash = existing.password_hash or ""
    else:
        password_hash = await rt.passwords.hash(req.password)
    now = rt.clock.now()
    try:
        async with in_transaction():
            if not await ResidentToken.filter(id=token.id, used_at__isnull=True, voided_at__isnull=True).update(
                used_at=now
            ):
                raise _Abandon
            account = existing or await Account.create(
                full_name=pa.full_name or pa.number, email=token.email if via == INVITE else None,
                email_verified=via == INVITE, password_hash=password_hash, password_changed_at=now,
                preferred_language=client.locale, status=AccountStatus.ACTIVE,
            )
            await pa.holders.add(account)
            await PersonalAccount.filter(id=pa.id, claimed_at__isnull=True).update(claimed_at=now)
            # The other ways into this personal account die with its first claim.
            await _void(CODE, [pa.id], now)
            await _void(INVITE, [pa.id], now)
            if via == CODE and email is not None and existing is None:  # a joined account keeps its address
                await issue_confirmation(rt, account, email, ACTIVATION, client.locale)
    except _Abandon:
        return await _refuse(rt, req, client, number_key)
    audit = record_statement(rt, "activation.success", actor_id=account.id, subject_id=account.id, client=client,
                             details={"via": via, "personal_account": pa.number, "joined": existing is not None})
    session = await issue_session(rt, account, client, "pwd", also=[audit])
    return Activated(account, session, confirmation_sent=via == CODE and email is not None and existing is None)


async def _refuse(rt: Runtime, req: ActivationRequest, client: ClientInfo, number_key: str) -> BadActivation:
    await rt.throttle.hit(WRONG_PER_CLIENT, client.address)
    if not req.invitation_token:
        await rt.throttle.hit(WRONG_PER_NUMBER, number_key)
    await record(rt, "activation.failure", client=client,
                 details={"via": INVITE if req.invitation_token else CODE})
    return BadActivation()

