"""Staff-only GraphQL: account tools, the audit log, personal-data export and erasure, the ticket desk.

Every field here returns a union with `NotAuthenticated` and `Forbidden` and is guarded by
`schema.permissions` (IsStaff: STAFF or ADMIN; IsAdmin: ADMIN only); resolvers call one service each.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry

from api.i18n import t
from identity.errors import FieldProblem
from models.accounts import Account as AccountModel
from models.accounts import Role
from models.audit import AuditEvent as AuditEventModel
from schema.context import Info
from schema.errors import Error, Forbidden, NotAuthenticated, ValidationError, validation_error
from schema.identity import AccountRole
from schema.permissions import IsAdmin, IsStaff, requires
from support import accounts as account_tools
from support import audit, privacy
from support.accounts import NotFound as NotFoundResult
from support.accounts import Refused
from support.paging import Page

# ---------------------------------------------------------------- shared types


@strawberry.type
class NotFound(Error):
    pass


@strawberry.type
class ActionRefused(Error):
    code: str  # ADMIN_ONLY, SELF, NOT_VERIFIED, SAME_APPROVER, NO_EMAIL, ALREADY_DECIDED, ...


@strawberry.enum
class AccountStatus(Enum):
    ACTIVE = "active"
    DISABLED = "disabled"


@strawberry.type(description="An account as staff see it.")
class AccountRecord:
    id: strawberry.ID
    full_name: str
    email: str | None
    email_verified: bool
    phone: str | None
    login: str | None
    personal_account_number: str | None
    role: AccountRole
    status: AccountStatus
    has_password: bool
    created_at: datetime
    erased: bool

    @classmethod
    def from_model(cls, a: AccountModel) -> AccountRecord:
        return cls(
            id=strawberry.ID(str(a.id)),
            full_name=a.full_name,
            email=a.email,
            email_verified=a.email_verified,
            phone=a.phone,
            login=a.login,
            personal_account_number=a.personal_account_number,
            role=AccountRole(str(a.role.value if hasattr(a.role, "value") else a.role)),
            status=AccountStatus(str(a.status.value if hasattr(a.status, "value") else a.status)),
            has_password=a.password_hash is not None,
            created_at=a.created_at,
            erased=a.erased_at is not None,
        )


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


def refused(result: Refused, lang: str) -> ActionRefused:
    return ActionRefused(message=t(f"REFUSED_{result.code}", lang), code=result.code)


def not_found(lang: str) -> NotFound:
    return NotFound(message=t("NotFound", lang))


def _account_id(raw: str, field: str = "accountId") -> Any:
    import uuid

    try:
        return uuid.UUID(str(raw))
    except ValueError as exc:
        raise FieldProblem(field, "INVALID_CHARACTERS") from exc


# ---------------------------------------------------------------- audit log


@strawberry.type
class AuditEvent:
    id: strawberry.ID
    occurred_at: datetime
    action: str
    actor_id: strawberry.ID | None
    subject_id: strawberry.ID | None
    ticket_number: str | None
    client_address: str | None
    details: str  # JSON

    @classmethod
    def from_model(cls, e: AuditEventModel) -> AuditEvent:
        return cls(
            id=strawberry.ID(str(e.id)),
            occurred_at=e.occurred_at,
            action=e.action,
            actor_id=strawberry.ID(str(e.actor_id)) if e.actor_id else None,
            subject_id=strawberry.ID(str(e.subject_id)) if e.subject_id else None,
            ticket_number=e.ticket_number,
            client_address=e.client_address,
            details=json.dumps(e.details or {}, ensure_ascii=False, default=str),
        )


@strawberry.type
class AuditEventConnection:
    nodes: list[AuditEvent]
    total_count: int
    page_info: PageInfo

    @classmethod
    def from_page(cls, page: Page[AuditEventModel]) -> AuditEventConnection:
        return cls(
            nodes=[AuditEvent.from_model(e) for e in page.items],
            total_count=page.total_count,
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
        )


# ---------------------------------------------------------------- results

AuditEventsResult = Annotated[
    AuditEventConnection | NotAuthenticated | Forbidden | ValidationError, strawberry.union("AuditEventsResult")
]


@strawberry.type
class AccountFound:
    account: AccountRecord | None  # null when nothing matches


AccountLookupResult = Annotated[
    AccountFound | NotAuthenticated | Forbidden, strawberry.union("AccountLookupResult")
]


@strawberry.type
class AccountUpdated:
    account: AccountRecord


AccountUpdateResult = Annotated[
    AccountUpdated | NotAuthenticated | Forbidden | NotFound | ActionRefused | ValidationError,
    strawberry.union("AccountUpdateResult"),
]


@strawberry.type
class AccountDataExported:
    data: str  # JSON: everything held about the account


ExportAccountDataResult = Annotated[
    AccountDataExported | NotAuthenticated | Forbidden | NotFound | ValidationError,
    strawberry.union("ExportAccountDataResult"),
]


@strawberry.type
class AccountErased:
    message: str
    summary: str  # JSON: what was removed or anonymised, by kind


EraseAccountResult = Annotated[
    AccountErased | NotAuthenticated | Forbidden | NotFound | ActionRefused | ValidationError,
    strawberry.union("EraseAccountResult"),
]


def account_update(outcome: AccountModel | NotFoundResult | Refused, lang: str) -> AccountUpdateResult:
    if isinstance(outcome, NotFoundResult):
        return not_found(lang)
    if isinstance(outcome, Refused):
        return refused(outcome, lang)
    return AccountUpdated(account=AccountRecord.from_model(outcome))


# ---------------------------------------------------------------- operations


@strawberry.type
class StaffQuery:
    @strawberry.field(description="ADMIN: the security log, newest first; one account's events with accountId.",
                      extensions=[requires(IsAdmin)])
    async def audit_events(
        self, info: Info, account_id: strawberry.ID | None = None, first: int | None = None, after: str | None = None
    ) -> AuditEventsResult:
        lang = info.context.lang
        try:
            page = await audit.page_for_account(_account_id(account_id) if account_id else None, first, after)
        except FieldProblem as problem:
            return validation_error(problem, lang)
        return AuditEventConnection.from_page(page)

    @strawberry.field(description="STAFF: find an account by id, e-mail, phone or login.",
                      extensions=[requires(IsStaff)])
    async def staff_account_lookup(self, info: Info, identifier: str) -> AccountLookupResult:
        found = await account_tools.find_account_ref(info.context.rt, identifier[:300])
        return AccountFound(account=AccountRecord.from_model(found) if found else None)


@strawberry.type
class StaffMutation:
    @strawberry.mutation(description="ADMIN: change an account's role (its sessions end).",
                         extensions=[requires(IsAdmin)])
    async def set_account_role(self, info: Info, account_id: strawberry.ID, role: AccountRole) -> AccountUpdateResult:
        ctx = info.context
        try:
            target = _account_id(account_id)
        except FieldProblem as problem:
            return validation_error(problem, ctx.lang)
        outcome = await account_tools.set_role(ctx.rt, target, Role(role.value), actor=ctx.account, client=ctx.client)
        return account_update(outcome, ctx.lang)

    @strawberry.mutation(description="STAFF: disable an account: sessions end, reset links die.",
                         extensions=[requires(IsStaff)])
    async def disable_account(
        self, info: Info, account_id: strawberry.ID, reason: str | None = None
    ) -> AccountUpdateResult:
        return await _set_disabled(info, account_id, True, reason)

    @strawberry.mutation(description="STAFF: re-enable a disabled account.", extensions=[requires(IsStaff)])
    async def enable_account(self, info: Info, account_id: strawberry.ID) -> AccountUpdateResult:
        return await _set_disabled(info, account_id, False, None)

    @strawberry.mutation(description="STAFF: lift the lock that repeated wrong passwords put on an account.",
                         extensions=[requires(IsStaff)])
    async def unlock_account(self, info: Info, account_id: strawberry.ID) -> AccountUpdateResult:
        ctx = info.context
        try:
            target = _account_id(account_id)
        except FieldProblem as problem:
            return validation_error(problem, ctx.lang)
        return account_update(await account_tools.unlock(ctx.rt, target, actor=ctx.account, client=ctx.client), ctx.lang)

    @strawberry.mutation(description="ADMIN: everything held about a resident, as JSON (152-FZ).",
                         extensions=[requires(IsAdmin)])
    async def export_account_data(self, info: Info, account_id: strawberry.ID) -> ExportAccountDataResult:
        ctx = info.context
        try:
            target = _account_id(account_id)
        except FieldProblem as problem:
            return validation_error(problem, ctx.lang)
        data = await privacy.export_account(ctx.rt, target)
        if isinstance(data, NotFoundResult):
            return not_found(ctx.lang)
        assert ctx.account is not None
        await audit.record(ctx.rt, "account.exported", actor_id=ctx.account.id, subject_id=target, client=ctx.client,
                           details={"via": "graphql"})
        return AccountDataExported(data=json.dumps(data, ensure_ascii=False))

    @strawberry.mutation(description="ADMIN: erase a resident's personal data (152-FZ); tickets stay, anonymised.",
                         extensions=[requires(IsAdmin)])
    async def erase_account(self, info: Info, account_id: strawberry.ID) -> EraseAccountResult:
        ctx = info.context
        try:
            target = _account_id(account_id)
        except FieldProblem as problem:
            return validation_error(problem, ctx.lang)
        outcome = await privacy.erase_account(ctx.rt, target, actor=ctx.account, client=ctx.client)
        if isinstance(outcome, NotFoundResult):
            return not_found(ctx.lang)
        if isinstance(outcome, Refused):
            return refused(outcome, ctx.lang)
        return AccountErased(message=t("AccountErased", ctx.lang), summary=json.dumps(outcome))


async def _set_disabled(info: Info, account_id: strawberry.ID, disabled: bool, reason: str | None) -> Any:
    ctx = info.context
    try:
        target = _account_id(account_id)
    except FieldProblem as problem:
        return validation_error(problem, ctx.lang)
    outcome = await account_tools.set_disabled(
        ctx.rt, target, disabled, actor=ctx.account, client=ctx.client, reason=reason
    )
    return account_update(outcome, ctx.lang)

