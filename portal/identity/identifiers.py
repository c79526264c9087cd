"""E-mail, phone and login name: parsed and normalised the same way at creation and at sign-in."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from portal.core.errors import FieldCode, FieldProblem

EMAIL_MAX = 254
LOGIN_RE = re.compile(r"^[a-z0-9._-]{3,64}$")
_PHONE_CHARS_RE = re.compile(r"^\+?[0-9\s().\-]{5,30}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")

Kind = Literal["email", "phone", "login"]


@dataclass(frozen=True, slots=True)
class Identifier:
    kind: Kind
    value: str


def has_control_characters(value: str) -> bool:
    """CR, LF, NUL and other control characters: never allowed where text may reach a header."""
    return bool(_CONTROL_RE.search(value))


def _typed_text(raw: str, field: str) -> str:
    """Trimmed text that is present, at most EMAIL_MAX long and free of control characters, in that order."""
    value = raw.strip()
    if not value:
        raise FieldProblem(field, FieldCode.REQUIRED)
    if len(value) > EMAIL_MAX:
        raise FieldProblem(field, FieldCode.TOO_LONG)
    if has_control_characters(value):
        raise FieldProblem(field, FieldCode.INVALID_CHARACTERS)
    return value


def normalize_email(raw: str, field: str = "email") -> str:
    value = _typed_text(raw, field)
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise FieldProblem(field, FieldCode.INVALID_EMAIL) from exc
    normalized = result.normalized.lower()
    if len(normalized) > EMAIL_MAX:
        raise FieldProblem(field, FieldCode.TOO_LONG)
    return normalized


def normalize_phone(raw: str, region: str, field: str = "phone") -> str:
    """Any common notation (8 912 345-67-89, +7 (912) 345-67-89) to E.164 (+79123456789)."""
    value = raw.strip()
    if not value:
        raise FieldProblem(field, FieldCode.REQUIRED)
    if len(value) > 32:
        raise FieldProblem(field, FieldCode.TOO_LONG)
    if not _PHONE_CHARS_RE.match(value):
        raise FieldProblem(field, FieldCode.INVALID_PHONE)
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise FieldProblem(field, FieldCode.INVALID_PHONE) from exc
    if not phonenumbers.is_valid_number(number):
        raise FieldProblem(field, FieldCode.INVALID_PHONE)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_login(raw: str, field: str = "login") -> str:
    """`[a-z0-9._-]{3,64}`, case-insensitive, with at least one letter so it never looks like a phone."""
    value = unicodedata.normalize("NFKC", raw.strip()).lower()
    if not value:
        raise FieldProblem(field, FieldCode.REQUIRED)
    if len(value) > 64:
        raise FieldProblem(field, FieldCode.TOO_LONG)
    if not LOGIN_RE.match(value) or not re.search(r"[a-z]", value):
        raise FieldProblem(field, FieldCode.INVALID_CHARACTERS)
    return value


def looks_like_phone(value: str) -> bool:
    return bool(_PHONE_CHARS_RE.match(value.strip())) and sum(c.isdigit() for c in value) >= 5


def read_lookup_identifier(raw: str, region: str, field: str = "identifier") -> Identifier | None:
    """What a stranger typed to sign in or reset: None when it names no possible account.

    Raises FieldProblem only for what says nothing about accounts (empty, too long, control characters);
    any other malformed input is answered exactly like an unknown identifier.
    """
    if has_control_characters(raw):
        raise FieldProblem(field, FieldCode.INVALID_CHARACTERS)
    try:
        return parse_identifier(raw, region, field)
    except FieldProblem as problem:
        if problem.code in ("REQUIRED", "TOO_LONG"):
            raise
        return None


def parse_identifier(raw: str, region: str, field: str = "identifier") -> Identifier:
    """Reads what a resident typed into «e-mail, phone or login»; raises FieldProblem when it is none."""
    value = _typed_text(raw, field)
    if "@" in value:
        return Identifier("email", normalize_email(value, field))
    if looks_like_phone(value):
        return Identifier("phone", normalize_phone(value, region, field))
    return Identifier("login", normalize_login(value, field))
