"""Staff account tools: look-up, role, disable/enable, unlock, 152-FZ export and erasure."""

from __future__ import annotations

import json
from typing import Annotated

import strawberry

from portal.core.errors import FieldProblem
from portal.core.i18n import t
from portal.models.accounts import Account as AccountModel
from portal.models.accounts import Role as AccountRole
from portal.models.audit import record
from portal.schema.context import Info
from portal.schema.errors import Forbidden, NotAuthenticated, ValidationError, validation_error
from portal.schema.permissions import IsAdmin, IsStaff, requires
from portal.schema.staff.audit import AuditEventConnection
from portal.schema.staff.common import (
    AccountRecord,
    ActionRefused,
    NotFound,
    not_found,
    on_id,
    parse_id,
)
from portal.support import accounts as account_tools
from portal.support import audit, privacy
from portal.support.accounts import NotFound as NotFoundResult

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


def _account_updated(account: AccountModel) -> AccountUpdated:
    return AccountUpdated(account=AccountRecord.from_model(account))


# ---------------------------------------------------------------- operations


@strawberry.type
class AccountToolsQuery:
    @strawberry.field(description="ADMIN: the security log, newest first; one account's events with accountId.",
                      extensions=[requires(IsAdmin)])
    async def audit_events(
        self, info: Info, account_id: strawberry.ID | None = None, first: int | None = None, after: str | None = None
    ) -> AuditEventsResult:
        lang = info.context.lang
        try:
            page = await audit.page_for_account(parse_id(account_id) if account_id else None, first, after)
        except FieldProblem as problem:
            return validation_error(problem, lang)
        return AuditEventConnection.from_page(page)

    @strawberry.field(description="STAFF: find an account by id, e-mail, phone or login.",
                      extensions=[requires(IsStaff)])
    async def staff_account_lookup(self, info: Info, identifier: str) -> AccountLookupResult:
        found = await account_tools.find_account_ref(info.context.rt, identifier[:300])
        return AccountFound(account=AccountRecord.from_model(found) if found else None)


@strawberry.type
class AccountToolsMutation:
    @strawberry.mutation(description="ADMIN: change an account's role (its sessions end).",
                         extensions=[requires(IsAdmin)])
    async def set_account_role(self, info: Info, account_id: strawberry.ID, role: AccountRole) -> AccountUpdateResult:
        ctx = info.context
        return await on_id(
            account_id,
            ctx.lang,
            lambda target: account_tools.set_role(ctx.rt, target, role, actor=ctx.account, client=ctx.client),
            _account_updated,
        )

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
        return await on_id(
            account_id,
            ctx.lang,
            lambda target: account_tools.unlock(ctx.rt, target, actor=ctx.account, client=ctx.client),
            _account_updated,
        )

    @strawberry.mutation(description="ADMIN: everything held about a resident, as JSON (152-FZ).",
                         extensions=[requires(IsAdmin)])
    async def export_account_data(self, info: Info, account_id: strawberry.ID) -> ExportAccountDataResult:
        ctx = info.context
        try:
            target = parse_id(account_id)
        except FieldProblem as problem:
            return validation_error(problem, ctx.lang)
        data = await privacy.export_account(ctx.rt, target)
        if isinstance(data, NotFoundResult):
            return not_found(ctx.lang)
        assert ctx.account is not None
        await record(ctx.rt, "account.exported", actor_id=ctx.account.id, subject_id=target, client=ctx.client,
                           details={"via": "graphql"})
        return AccountDataExported(data=json.dumps(data, ensure_ascii=False))

    @strawberry.mutation(description="ADMIN: erase a resident's personal data (152-FZ); tickets stay, anonymised.",
                         extensions=[requires(IsAdmin)])
    async def erase_account(self, info: Info, account_id: strawberry.ID) -> EraseAccountResult:
        ctx = info.context
        return await on_id(
            account_id,
            ctx.lang,
            lambda target: privacy.erase_account(ctx.rt, target, actor=ctx.account, client=ctx.client),
            lambda summary: AccountErased(message=t("AccountErased", ctx.lang), summary=json.dumps(summary)),
        )


async def _set_disabled(
    info: Info, account_id: strawberry.ID, disabled: bool, reason: str | None
) -> AccountUpdateResult:
    ctx = info.context
    return await on_id(
        account_id,
        ctx.lang,
        lambda target: account_tools.set_disabled(
            ctx.rt, target, disabled, actor=ctx.account, client=ctx.client, reason=reason
        ),
        _account_updated,
    )
