"""Expected failures as values: a field problem carries a FieldError code from API.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class FieldCode(StrEnum):
    """Why one input field was refused (`FieldError.code`); each has a message in every language."""

    REQUIRED = "REQUIRED"
    INVALID_EMAIL = "INVALID_EMAIL"
    INVALID_PHONE = "INVALID_PHONE"
    PASSWORDS_DO_NOT_MATCH = "PASSWORDS_DO_NOT_MATCH"
    PASSWORD_TOO_SHORT = "PASSWORD_TOO_SHORT"
    PASSWORD_TOO_LONG = "PASSWORD_TOO_LONG"
    PASSWORD_TOO_COMMON = "PASSWORD_TOO_COMMON"
    PASSWORD_CONTAINS_IDENTIFIER = "PASSWORD_CONTAINS_IDENTIFIER"
    CONSENT_REQUIRED = "CONSENT_REQUIRED"
    TOO_LONG = "TOO_LONG"
    INVALID_CHARACTERS = "INVALID_CHARACTERS"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    RETURN_URL_NOT_ALLOWED = "RETURN_URL_NOT_ALLOWED"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    INVALID_CURSOR = "INVALID_CURSOR"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    UNKNOWN_PROVIDER = "UNKNOWN_PROVIDER"
    PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"
    NOT_LINKED = "NOT_LINKED"
    LAST_SIGN_IN_METHOD = "LAST_SIGN_IN_METHOD"
    SAME_EMAIL = "SAME_EMAIL"  # an e-mail change to the address the account already has
    INVALID_CODE = "INVALID_CODE"  # a TOTP code that does not match
    NO_ENROLLMENT = "NO_ENROLLMENT"  # a TOTP code with no enrolment started
    PASSKEY_REFUSED = "PASSKEY_REFUSED"  # a passkey registration that did not verify
    NOT_FOUND = "NOT_FOUND"  # an id that names nothing of the caller's


class RefusalCode(StrEnum):
    """Which rule refused a staff action (`ActionRefused.code`); each has a message in every language."""

    SELF = "SELF"  # staff never act on their own account
    ADMIN_ONLY = "ADMIN_ONLY"
    NOT_STAFF = "NOT_STAFF"  # the named assignee is not a staff member
    UNCHANGED = "UNCHANGED"  # the account already is what was asked
    NO_EMAIL = "NO_EMAIL"
    SAME_EMAIL = "SAME_EMAIL"
    EMAIL_TAKEN = "EMAIL_TAKEN"
    NOT_VERIFIED = "NOT_VERIFIED"
    SAME_APPROVER = "SAME_APPROVER"
    ALREADY_DECIDED = "ALREADY_DECIDED"
    ACCOUNT_DISABLED = "ACCOUNT_DISABLED"
    NO_PASSWORD = "NO_PASSWORD"  # a federated-only account recovers through its provider
    NO_SECOND_FACTOR = "NO_SECOND_FACTOR"  # the account has no second factor to remove


class FieldProblem(ValueError):
    """One invalid input field; `code` says why."""

    def __init__(self, field: str, code: FieldCode, **params: object) -> None:
        super().__init__(f"{field}: {code}")
        self.field = field
        self.code = code
        self.params = params


@dataclass
class Invalid:
    """A validation failure of one or more fields (the `ValidationError` payload)."""

    problems: list[FieldProblem] = field(default_factory=list)

    @classmethod
    def of(cls, *problems: FieldProblem) -> Invalid:
        return cls(list(problems))


@dataclass(frozen=True)
class TooMany:
    """A throttle said no (the `TooManyAttempts` payload)."""

    retry_after_seconds: int
