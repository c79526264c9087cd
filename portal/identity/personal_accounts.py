"""Personal accounts (лицевые счета): how a number is written, who holds which, and searching by number."""

from __future__ import annotations

import re
from dataclasses import dataclass
from uuid import UUID

from portal.core.errors import FieldCode, FieldProblem
from portal.identity.accounts import find_account
from portal.identity.identifiers import has_control_characters, read_lookup_identifier
from portal.models.accounts import Account, AccountStatus
from portal.models.residents import PersonalAccount

NUMBER_MAX = 32
# Digits and Latin letters with '-' or '/' inside, as billing systems print them; spaces are dropped.
_NUMBER_RE = re.compile(r"^[0-9A-Z]([0-9A-Z/-]{0,30}[0-9A-Z])?$")


@dataclass(frozen=True, slots=True)
class Holding:
    """A personal account as its holder (and staff) see it."""

    number: str
    address: str
    area: str | None = None
    share: str | None = None
    external_id: str | None = None


def normalize_number(raw: str, field: str = "personalAccount") -> str:
    """`12 345-678` → `12345-678` (upper-cased, spaces gone); raises FieldProblem when it cannot be one."""
    if has_control_characters(raw):
        raise FieldProblem(field, FieldCode.INVALID_CHARACTERS)
    value = "".join(raw.split()).upper()
    if not value:
        raise FieldProblem(field, FieldCode.REQUIRED)
    if len(value) > NUMBER_MAX:
        raise FieldProblem(field, FieldCode.TOO_LONG, max=NUMBER_MAX)
    if not _NUMBER_RE.match(value):
        raise FieldProblem(field, FieldCode.INVALID_CHARACTERS)
    return value


def read_number(raw: str) -> str | None:
    """What a stranger typed as a number: None when it cannot be one (answered like an unknown number)."""
    try:
        return normalize_number(raw)
    except FieldProblem:
        return None


def _holding(pa: PersonalAccount) -> Holding:
    return Holding(pa.number, pa.address, pa.area, pa.share, pa.external_id)


async def holdings_of(account_id: UUID) -> list[Holding]:
    """The personal accounts an account holds, by number."""
    rows = await PersonalAccount.filter(holders__id=account_id).order_by("number")
    return [_holding(pa) for pa in rows]


async def holds(account_id: UUID, number: str) -> bool:
    """Whether the account holds this personal account (a ticket's number matched against the named account)."""
    normalized = read_number(number)
    if normalized is None:
        return False
    return await PersonalAccount.filter(number=normalized, holders__id=account_id).exists()


async def holder_ids(number: str) -> list[UUID]:
    """The accounts holding a personal account (the staff search and sign-in by number)."""
    normalized = read_number(number)
    if normalized is None:
        return []
    pa = await PersonalAccount.get_or_none(number=normalized)
    if pa is None:
        return []
    return [a.id for a in await pa.holders.all()]


def number_in_identifier(pattern: str, raw: str) -> str | None:
    """The personal account number in what someone typed to sign in, when PORTAL_PERSONAL_ACCOUNT_PATTERN
    matches all of it (case-insensitively): the first named group that matched, else the whole match."""
    match = re.fullmatch(pattern, raw.strip(), re.IGNORECASE)
    if match is None:
        return None
    named = [value for value in match.groupdict().values() if value]
    return read_number(named[0] if named else match.group(0))


async def sole_holder(number: str) -> Account | None:
    """The one active account holding a personal account; None when none or several do (sign-in by number
    cannot tell which of several residents of a flat is signing in)."""
    holders = await Account.filter(personal_accounts__number=number, status=AccountStatus.ACTIVE).limit(2)
    return holders[0] if len(holders) == 1 else None


async def named_account_holds(number: str | None, account_identifier: str, filed_by: UUID | None, region: str) -> bool:
    """Whether a ticket's personal account number belongs to the account the ticket names (the one that filed
    it, or the one its account identifier finds): matched evidence of ownership for the desk."""
    holders = set(await holder_ids(number)) if number else set()
    if not holders:
        return False
    if filed_by in holders:
        return True
    try:
        parsed = read_lookup_identifier(account_identifier, region)
    except FieldProblem:
        return False
    account = await find_account(parsed) if parsed else None
    return account is not None and account.id in holders


async def release_holdings(account: Account) -> int:
    """An erased account lets go of its flats; a flat nobody holds any more is unclaimed again (new codes)."""
    held = await PersonalAccount.filter(holders__id=account.id)
    await account.personal_accounts.clear()  # type: ignore[attr-defined]
    for pa in held:
        if not await pa.holders.all().exists():
            await PersonalAccount.filter(id=pa.id).update(claimed_at=None)
    return len(held)
