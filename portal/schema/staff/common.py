"""What every staff field shares: the error types, the account as staff see it, paging, the outcome mapper."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar, overload
from uuid import UUID

import strawberry

from portal.core.errors import FieldCode, FieldProblem, Invalid
from portal.core.i18n import code_message, t
from portal.identity.personal_accounts import holdings_of
from portal.models.accounts import Account as AccountModel
from portal.models.accounts import AccountStatus
from portal.models.accounts import Role as AccountRole
from portal.schema.errors import Error, ValidationError, validation_error
from portal.schema.identity import account_fields
from portal.schema.residents import PersonalAccountRecord
from portal.support.accounts import NotFound as NotFoundResult
from portal.support.accounts import Refused


@strawberry.type
class NotFound(Error):
    pass


@strawberry.type
class ActionRefused(Error):
    code: str  # ADMIN_ONLY, SELF, NOT_VERIFIED, SAME_APPROVER, NO_EMAIL, ALREADY_DECIDED, ...


strawberry.enum(AccountStatus, name="AccountStatus")  # the model's own enum, as GraphQL sees it


@strawberry.type(description="An account as staff see it.")
class AccountRecord:
    id: strawberry.ID
    full_name: str
    email: str | None
    email_verified: bool
    phone: str | None
    login: str | None
    role: AccountRole
    status: AccountStatus
    has_password: bool
    created_at: datetime
    erased: bool

    @strawberry.field(description="The personal accounts (лицевые счета) the account holds.")
    async def personal_accounts(self) -> list[PersonalAccountRecord]:
        return [PersonalAccountRecord.from_holding(h) for h in await holdings_of(parse_id(self.id))]

    @classmethod
    def from_model(cls, a: AccountModel) -> AccountRecord:
        return cls(
            **account_fields(a),
            status=AccountStatus(str(a.status)),  # a StrEnum: str() is the stored value
            created_at=a.created_at,
            erased=a.erased_at is not None,
        )


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


def refused(result: Refused, lang: str) -> ActionRefused:
    return ActionRefused(message=code_message(result.code, lang), code=result.code)


def not_found(lang: str) -> NotFound:
    return NotFound(message=t("NotFound", lang))


def parse_id(raw: str, field: str = "accountId") -> Any:
    import uuid

    try:
        return uuid.UUID(str(raw))
    except ValueError as exc:
        raise FieldProblem(field, FieldCode.INVALID_CHARACTERS) from exc


T = TypeVar("T")
S = TypeVar("S")


@overload
def outcome_result(result: T | NotFoundResult, lang: str, success: Callable[[T], S]) -> S | NotFound: ...
@overload
def outcome_result(
    result: T | NotFoundResult | Invalid, lang: str, success: Callable[[T], S]
) -> S | NotFound | ValidationError: ...
@overload
def outcome_result(
    result: T | NotFoundResult | Refused | Invalid, lang: str, success: Callable[[T], S]
) -> S | NotFound | ActionRefused | ValidationError: ...
def outcome_result(
    result: T | NotFoundResult | Refused | Invalid, lang: str, success: Callable[[T], S]
) -> S | NotFound | ActionRefused | ValidationError:
    """The one mapping of a service's outcome to a staff field's result: not found, refused, invalid or success."""
    if isinstance(result, NotFoundResult):
        return not_found(lang)
    if isinstance(result, Refused):
        return refused(result, lang)
    if isinstance(result, Invalid):
        return validation_error(result, lang)
    return success(result)


async def on_id(
    raw: str,
    lang: str,
    act: Callable[[UUID], Awaitable[T | NotFoundResult | Refused]],
    success: Callable[[T], S],
    field: str = "accountId",
) -> S | NotFound | ActionRefused | ValidationError:
    """A staff mutation on one id: a malformed id is a ValidationError under `field`, else `act`'s outcome mapped."""
    try:
        parsed = parse_id(raw, field)
    except FieldProblem as problem:
        return validation_error(problem, lang)
    return outcome_result(await act(parsed), lang, success)
