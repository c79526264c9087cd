"""The `Error` interface, the error types of API.md, and mapping service results onto them."""

from __future__ import annotations

from typing import TypeVar

import strawberry

from portal.core.errors import FieldProblem, Invalid, TooMany
from portal.core.i18n import code_message, t, tn


@strawberry.interface
class Error:
    message: str


@strawberry.type
class InvalidCredentials(Error):
    pass


@strawberry.type
class InvalidToken(Error):
    pass


@strawberry.type
class TooManyAttempts(Error):
    retry_after_seconds: int


@strawberry.type
class NotAuthenticated(Error):
    pass


@strawberry.type
class Forbidden(Error):
    pass


@strawberry.type
class FieldError:
    field: str
    code: str
    message: str


@strawberry.type
class ValidationError(Error):
    fields: list[FieldError]


E = TypeVar("E", bound=Error)


def error(cls: type[E], lang: str) -> E:
    """An error type whose only field is its message (the message key is the type's name)."""
    return cls(message=t(cls.__name__, lang))


def validation_error(invalid: Invalid | FieldProblem, lang: str) -> ValidationError:
    problems = [invalid] if isinstance(invalid, FieldProblem) else invalid.problems
    return ValidationError(
        message=t("ValidationError", lang),
        fields=[
            FieldError(field=p.field, code=p.code, message=code_message(p.code, lang, **p.params)) for p in problems
        ],
    )


def too_many(result: TooMany, lang: str) -> TooManyAttempts:
    seconds = max(1, int(result.retry_after_seconds))
    return TooManyAttempts(message=tn("TooManyAttempts", seconds, lang, seconds=seconds), retry_after_seconds=seconds)


ERROR_TYPES = (InvalidCredentials, InvalidToken, TooManyAttempts, NotAuthenticated, Forbidden, ValidationError)
