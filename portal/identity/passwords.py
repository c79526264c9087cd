"""Password policy (NIST SP 800-63B-4); the hashing itself is `portal.core.hashing`."""

from __future__ import annotations

import gzip
from functools import lru_cache
from importlib import resources

from portal.core.errors import FieldCode, FieldProblem
from portal.core.hashing import normalize_password


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """19,640 common passwords (Royce Williams' list, as shipped and maintained by Django)."""
    raw = resources.files("portal.identity").joinpath("data/common-passwords.txt.gz").read_bytes()
    return frozenset(line.strip() for line in gzip.decompress(raw).decode().splitlines() if line.strip())


def check_password_policy(
    password: str,
    *,
    min_length: int,
    max_length: int,
    context: tuple[str | None, ...] = (),
    field: str = "password",
) -> None:
    """Raises FieldProblem: too short, too long, common, or containing the account's own identifiers."""
    if len(password) > max_length:  # checked on the raw input, before any normalisation or hashing
        raise FieldProblem(field, FieldCode.PASSWORD_TOO_LONG, max=max_length)
    normalized = normalize_password(password)
    if not normalized:
        raise FieldProblem(field, FieldCode.REQUIRED)
    if len(normalized) < min_length:
        raise FieldProblem(field, FieldCode.PASSWORD_TOO_SHORT, min=min_length)
    folded = normalized.casefold()
    if folded in common_passwords() or folded.strip() in common_passwords():
        raise FieldProblem(field, FieldCode.PASSWORD_TOO_COMMON)
    for item in _context_words(context):
        if item in folded:
            raise FieldProblem(field, FieldCode.PASSWORD_CONTAINS_IDENTIFIER)


def _context_words(context: tuple[str | None, ...]) -> list[str]:
    """The account's e-mail (and its local part), login, and phone digits, when long enough to matter."""
    words: list[str] = []
    for value in context:
        if not value:
            continue
        value = value.casefold()
        words.append(value)
        if "@" in value:
            words.append(value.split("@", 1)[0])
        if value.startswith("+"):
            digits = value[1:]
            words.append(digits)
            words.append(digits[-10:])  # the national number, as residents type it
    return [w for w in words if len(w) >= 4]
