"""The support form as typed and as checked: every field validated and normalised, every problem at once."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from portal.core.errors import FieldCode, FieldProblem, Invalid
from portal.identity.identifiers import (
    EMAIL_MAX,
    has_control_characters,
    normalize_email,
    normalize_phone,
)
from portal.identity.personal_accounts import normalize_number
from portal.models.support import TicketCategory

FULL_NAME_MAX = 200
ADDRESS_MAX = 500
DESCRIPTION_MAX = 5000
ACCOUNT_IDENTIFIER_MAX = EMAIL_MAX
IDEMPOTENCY_KEY_MAX = 200

_DESCRIPTION_CONTROL_RE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f\u2028\u2029]")  # every control but LF


@dataclass(frozen=True)
class TicketForm:
    """What the resident typed into the support form, as received."""

    full_name: str
    registration_address: str
    phone: str
    account_identifier: str
    description: str
    personal_data_consent: bool
    category: TicketCategory = TicketCategory.ACCOUNT_ACCESS
    reply_email: str | None = None
    idempotency_key: str | None = None
    personal_account_number: str | None = None  # лицевой счёт from the bill: evidence for the desk


@dataclass(frozen=True)
class CleanForm:
    """The form after validation and normalisation; its canonical form is what idempotency compares."""

    full_name: str
    registration_address: str
    phone: str
    account_identifier: str
    description: str
    category: TicketCategory
    reply_email: str | None
    idempotency_key: str | None
    personal_account_number: str | None = None

    def canonical(self, account_id: UUID | None) -> str:
        return json.dumps(
            [
                str(account_id) if account_id else None,
                self.full_name,
                self.registration_address,
                self.phone,
                self.account_identifier,
                self.reply_email,
                self.category.value,
                self.description,
                *([self.personal_account_number] if self.personal_account_number else []),
            ],
            ensure_ascii=False,
            separators=(",", ":"),
        )


def _single_line(raw: str, field: str, maximum: int) -> str:
    """A one-line text (name, address): no control characters at all, whitespace collapsed, bounded."""
    if has_control_characters(raw):
        raise FieldProblem(field, FieldCode.INVALID_CHARACTERS)
    value = " ".join(raw.split())
    if not value:
        raise FieldProblem(field, FieldCode.REQUIRED)
    if len(value) > maximum:
        raise FieldProblem(field, FieldCode.TOO_LONG, max=maximum)
    return value


def _description(raw: str) -> str:
    """Free text: line breaks allowed (CRLF and CR become LF), every other control character refused."""
    value = raw.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not value:
        raise FieldProblem("description", FieldCode.REQUIRED)
    if _DESCRIPTION_CONTROL_RE.search(value):
        raise FieldProblem("description", FieldCode.INVALID_CHARACTERS)
    if len(value) > DESCRIPTION_MAX:
        raise FieldProblem("description", FieldCode.TOO_LONG, max=DESCRIPTION_MAX)
    return value


def _phone(raw: str, region: str) -> str:
    if has_control_characters(raw):  # checked first: the phone parser would read CR/LF as spaces
        raise FieldProblem("phone", FieldCode.INVALID_CHARACTERS)
    try:
        return normalize_phone(raw, region, "phone")
    except FieldProblem as problem:
        if problem.code == FieldCode.TOO_LONG:
            raise FieldProblem("phone", FieldCode.TOO_LONG, max=32) from None
        raise


def _reply_email(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    if has_control_characters(raw):  # before trimming: a trailing CRLF is an injection attempt, not a typo
        raise FieldProblem("replyEmail", FieldCode.INVALID_CHARACTERS)
    try:
        return normalize_email(raw, "replyEmail")
    except FieldProblem as problem:
        if problem.code == FieldCode.TOO_LONG:
            raise FieldProblem("replyEmail", FieldCode.TOO_LONG, max=EMAIL_MAX) from None
        raise


def _account_identifier(raw: str) -> str:
    if has_control_characters(raw):
        raise FieldProblem("accountIdentifier", FieldCode.INVALID_CHARACTERS)
    value = raw.strip()
    if not value:
        raise FieldProblem("accountIdentifier", FieldCode.REQUIRED)
    if len(value) > ACCOUNT_IDENTIFIER_MAX:
        raise FieldProblem("accountIdentifier", FieldCode.TOO_LONG, max=ACCOUNT_IDENTIFIER_MAX)
    return value


def _idempotency_key(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    if has_control_characters(raw):
        raise FieldProblem("idempotencyKey", FieldCode.INVALID_CHARACTERS)
    value = raw.strip()
    if len(value) > IDEMPOTENCY_KEY_MAX:
        raise FieldProblem("idempotencyKey", FieldCode.TOO_LONG, max=IDEMPOTENCY_KEY_MAX)
    return value


def _personal_account_number(raw: str | None) -> str | None:
    return normalize_number(raw, "personalAccountNumber") if raw and raw.strip() else None


def validate(form: TicketForm, region: str) -> CleanForm | Invalid:
    """Every field checked, every problem reported at once under its GraphQL input name."""
    problems: list[FieldProblem] = []
    values: dict[str, object] = {}
    checks: list[tuple[str, Callable[[], object]]] = [
        ("full_name", lambda: _single_line(form.full_name, "fullName", FULL_NAME_MAX)),
        ("registration_address", lambda: _single_line(form.registration_address, "registrationAddress", ADDRESS_MAX)),
        ("phone", lambda: _phone(form.phone, region)),
        ("account_identifier", lambda: _account_identifier(form.account_identifier)),
        ("reply_email", lambda: _reply_email(form.reply_email)),
        ("description", lambda: _description(form.description)),
        ("idempotency_key", lambda: _idempotency_key(form.idempotency_key)),
        ("personal_account_number", lambda: _personal_account_number(form.personal_account_number)),
    ]
    for name, check in checks:
        try:
            values[name] = check()
        except FieldProblem as problem:
            problems.append(problem)
    if form.personal_data_consent is not True:
        problems.append(FieldProblem("personalDataConsent", FieldCode.CONSENT_REQUIRED))
    if problems:
        return Invalid(problems)
    return CleanForm(category=TicketCategory(form.category), **values)  # type: ignore[arg-type]
