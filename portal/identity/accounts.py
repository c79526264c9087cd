"""Creating local accounts and finding them by what a resident types."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from portal.core.errors import FieldCode, FieldProblem, Invalid
from portal.core.runtime import Runtime
from portal.identity.identifiers import (
    Identifier,
    has_control_characters,
    normalize_email,
    normalize_login,
    normalize_phone,
)
from portal.identity.passwords import check_password_policy
from portal.models.accounts import Account, Role
from portal.models.batch import hydrate
from portal.models.federation import FederatedIdentity
from portal.models.reads import fetch_rows
from portal.models.security import TotpCredential

FULL_NAME_MAX = 200
T = TypeVar("T")


@dataclass
class NewAccount:
    full_name: str
    email: str | None = None
    phone: str | None = None
    login: str | None = None
    role: Role = Role.RESIDENT
    password: str | None = None
    email_verified: bool = False
    preferred_language: str = "ru"


def clean_full_name(raw: str, field: str = "fullName") -> str:
    value = " ".join(raw.split())
    if not value:
        raise FieldProblem(field, FieldCode.REQUIRED)
    if len(value) > FULL_NAME_MAX:
        raise FieldProblem(field, FieldCode.TOO_LONG, max=FULL_NAME_MAX)
    if has_control_characters(raw.replace("\t", " ").replace("\n", " ").replace("\r", " ")):
        raise FieldProblem(field, FieldCode.INVALID_CHARACTERS)
    return value


def collect(problems: list[FieldProblem], check: Callable[[], T]) -> T | None:
    """Runs one field check; a FieldProblem is collected instead of raised, so every field is reported."""
    try:
        return check()
    except FieldProblem as problem:
        problems.append(problem)
        return None


async def create_account(rt: Runtime, new: NewAccount) -> Account | Invalid:
    """Validates everything first, then writes one row; a duplicate identifier is a field problem."""
    problems: list[FieldProblem] = []
    email = phone = login = None
    full_name = ""

    full_name = collect(problems, lambda: clean_full_name(new.full_name)) or ""
    if new.email is not None:
        email = collect(problems, lambda: normalize_email(new.email or "", "email"))
    if new.phone is not None:
        phone = collect(problems, lambda: normalize_phone(new.phone or "", rt.settings.default_region, "phone"))
    if new.login is not None:
        login = collect(problems, lambda: normalize_login(new.login or "", "login"))
    if new.email is None and new.phone is None and new.login is None:
        problems.append(FieldProblem("email", FieldCode.REQUIRED))
    if new.password is not None:
        collect(
            problems,
            lambda: check_password_policy(
                new.password or "",
                min_length=rt.settings.password_min_length,
                max_length=rt.settings.password_max_length,
                context=(email, login, phone),
            ),
        )
    if problems:
        return Invalid(problems)

    for field, value in (("email", email), ("phone", phone), ("login", login)):
        if value is not None and await Account.filter(**{field: value}).exists():
            problems.append(FieldProblem(field, FieldCode.ALREADY_EXISTS))
    if problems:
        return Invalid(problems)

    password_hash = await rt.passwords.hash(new.password) if new.password is not None else None
    now = rt.clock.now()
    try:
        async with in_transaction():
            return await Account.create(
                full_name=full_name,
                email=email,
                email_verified=new.email_verified,
                phone=phone,
                login=login,
                role=new.role,
                password_hash=password_hash,
                password_changed_at=now if password_hash else None,
                preferred_language=new.preferred_language,
            )
    except IntegrityError:  # a concurrent creation took the identifier between the check and the insert
        return Invalid.of(FieldProblem("email" if email else "phone" if phone else "login", FieldCode.ALREADY_EXISTS))


async def find_account(identifier: Identifier) -> Account | None:
    """One indexed lookup. It runs on every sign-in and reset request, so the statement is built once per
    identifier kind and the row read without the query builder (which cost more CPU than the query)."""
    client = connections.get("default")
    dialect = client.capabilities.dialect
    if dialect not in ("sqlite", "postgres") or identifier.kind not in _LOOKUP_KINDS:
        return await Account.filter(**{identifier.kind: identifier.value}).first()
    rows = await fetch_rows(_lookup_sql(dialect, identifier.kind), [identifier.value])
    if not rows:
        return None
    row = dict(rows[0])
    has_confirmed_totp, provider_ids = bool(row.pop("has_confirmed_totp")), row.pop("provider_ids")
    account = hydrate(Account, row)
    account.has_confirmed_totp = has_confirmed_totp
    account.provider_ids = tuple(provider_ids.split(",")) if provider_ids else ()  # ids are [a-z0-9_-]
    return account


_LOOKUP_KINDS = ("email", "phone", "login")  # each a unique column of `accounts`
_LOOKUP_SQL: dict[tuple[str, str], str] = {}


def _lookup_sql(dialect: str, kind: str) -> str:
    if (dialect, kind) not in _LOOKUP_SQL:
        meta, totp, linked = Account._meta, TotpCredential._meta.db_table, FederatedIdentity._meta.db_table
        table = meta.db_table
        columns = ", ".join(f'"{table}"."{column}"' for column in meta.fields_db_projection.values())
        param = "?" if dialect == "sqlite" else "$1"
        # The questions a sign-in and a reset request ask next ride along, each an index probe: a second
        # factor? which providers (for the letter of an account without a password)?
        confirmed = (
            f'EXISTS (SELECT 1 FROM "{totp}" WHERE "{totp}"."account_id" = "{table}"."id" '  # noqa: S608
            f'AND "{totp}"."confirmed_at" IS NOT NULL) AS "has_confirmed_totp"'
        )
        join = "group_concat" if dialect == "sqlite" else "string_agg"
        providers = (
            f'(SELECT {join}("{linked}"."provider", \',\') FROM "{linked}" '  # noqa: S608
            f'WHERE "{linked}"."account_id" = "{table}"."id") AS "provider_ids"'
        )
        # Names come from the models' own metadata; the identifier is the one parameter.
        sql = f'SELECT {columns}, {confirmed}, {providers} FROM "{table}" WHERE "{kind}" = {param} LIMIT 1'  # noqa: S608
        _LOOKUP_SQL[dialect, kind] = sql
    return _LOOKUP_SQL[dialect, kind]
