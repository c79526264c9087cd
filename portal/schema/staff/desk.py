"""The ticket desk: the queue, ticket work, ownership checks and the two-person e-mail recovery."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry

from portal.core.errors import FieldProblem
from portal.identity.personal_accounts import named_account_holds
from portal.models.accounts import Account as AccountModel
from portal.models.desk import Evidence as OwnershipEvidence
from portal.models.desk import OwnershipVerification as OwnershipVerificationModel
from portal.models.desk import RecoveryKind, RecoveryStatus, VerificationOutcome
from portal.models.desk import RecoveryRequest as RecoveryRequestModel
from portal.models.support import Ticket as TicketModel
from portal.models.support import TicketCategory, TicketStatus
from portal.schema.context import Info
from portal.schema.errors import Forbidden, NotAuthenticated, ValidationError, validation_error
from portal.schema.permissions import IsAdmin, IsStaff, requires
from portal.schema.staff.common import (
    AccountRecord,
    ActionRefused,
    NotFound,
    PageInfo,
    on_id,
    outcome_result,
    parse_id,
)
from portal.schema.support import TicketMessage
from portal.support import desk

strawberry.enum(OwnershipEvidence, name="OwnershipEvidence")  # the model's own enum, as GraphQL sees it


strawberry.enum(VerificationOutcome, name="VerificationOutcome")  # the model's own enum, as GraphQL sees it


strawberry.enum(RecoveryKind, name="RecoveryKind")  # the model's own enum, as GraphQL sees it


strawberry.enum(RecoveryStatus, name="RecoveryStatus")  # the model's own enum, as GraphQL sees it


@strawberry.type
class StaffMember:
    id: strawberry.ID
    full_name: str

    @classmethod
    def of(cls, account: AccountModel | None) -> StaffMember | None:
        return cls(id=strawberry.ID(str(account.id)), full_name=account.full_name) if account else None


@strawberry.type(description="A ticket in the staff queue.")
class QueuedTicket:
    number: str
    status: TicketStatus
    category: TicketCategory
    full_name: str
    phone: str
    reply_email: str | None
    account_identifier: str
    assigned_to: StaffMember | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, r: desk.QueueRow) -> QueuedTicket:
        return cls(
            number=r.number,
            status=TicketStatus(str(r.status)),
            category=TicketCategory(str(r.category)),
            full_name=r.full_name,
            phone=r.phone,
            reply_email=r.reply_email,
            account_identifier=r.account_identifier,
            assigned_to=StaffMember(id=strawberry.ID(str(r.assigned_to_id)), full_name=r.assigned_to_name or "")
            if r.assigned_to_id
            else None,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )

    @classmethod
    def from_model(cls, t: TicketModel) -> QueuedTicket:
        staff: AccountModel | None = t.assigned_to
        return cls(
            number=t.number,
            status=TicketStatus(str(t.status)),
            category=TicketCategory(str(t.category)),
            full_name=t.full_name,
            phone=t.phone,
            reply_email=t.reply_email,
            account_identifier=t.account_identifier,
            assigned_to=StaffMember.of(staff),
            created_at=t.created_at,
            updated_at=t.updated_at,
        )


@strawberry.type
class SupportTicketConnection:
    nodes: list[QueuedTicket]
    total_count: int
    page_info: PageInfo


@strawberry.type
class TicketStatusChange:
    from_status: TicketStatus | None
    to_status: TicketStatus
    actor_id: strawberry.ID | None
    occurred_at: datetime
    public_message: str | None


@strawberry.type(description="Internal: never shown to the resident.")
class TicketNote:
    id: strawberry.ID
    body: str
    author: StaffMember | None
    created_at: datetime


@strawberry.type
class OwnershipCheck:
    id: strawberry.ID
    account: AccountRecord | None
    staff: StaffMember | None
    evidence: list[OwnershipEvidence]
    documents: str | None
    comment: str | None
    outcome: VerificationOutcome
    created_at: datetime

    @classmethod
    def from_model(cls, v: OwnershipVerificationModel) -> OwnershipCheck:
        return cls(
            id=strawberry.ID(str(v.id)),
            account=AccountRecord.from_model(v.account) if v.account else None,
            staff=StaffMember.of(v.staff),
            evidence=[OwnershipEvidence(e) for e in v.evidence or []],
            documents=v.documents,
            comment=v.comment,
            outcome=VerificationOutcome(str(v.outcome)),
            created_at=v.created_at,
        )


@strawberry.type
class RecoveryRequest:
    id: strawberry.ID
    ticket_number: str
    account_id: strawberry.ID | None
    kind: RecoveryKind
    status: RecoveryStatus
    new_email: str | None
    requested_by_id: strawberry.ID | None
    decided_by_id: strawberry.ID | None
    created_at: datetime
    decided_at: datetime | None
    completed_at: datetime | None

    @classmethod
    def from_model(cls, r: RecoveryRequestModel) -> RecoveryRequest:
        def opt(value: Any) -> strawberry.ID | None:
            return strawberry.ID(str(value)) if value else None

        return cls(
            id=strawberry.ID(str(r.id)),
            ticket_number=r.ticket_number,
            account_id=opt(r.account_id),  # type: ignore[attr-defined]
            kind=RecoveryKind(str(r.kind)),
            status=RecoveryStatus(str(r.status)),
            new_email=r.new_email,
            requested_by_id=opt(r.requested_by_id),  # type: ignore[attr-defined]
            decided_by_id=opt(r.decided_by_id),  # type: ignore[attr-defined]
            created_at=r.created_at,
            decided_at=r.decided_at,
            completed_at=r.completed_at,
        )


@strawberry.type(description="The whole ticket with what the resident submitted: staff only.")
class SupportTicketDetails:
    number: str
    status: TicketStatus
    category: TicketCategory
    full_name: str
    registration_address: str
    phone: str
    account_identifier: str
    reply_email: str | None
    description: str
    locale: str
    filed_by_account_id: strawberry.ID | None
    assigned_to: StaffMember | None
    consent_given_at: datetime
    consent_version: str
    created_at: datetime
    updated_at: datetime
    messages: list[TicketMessage]
    history: list[TicketStatusChange]
    notes: list[TicketNote]
    ownership_checks: list[OwnershipCheck]
    recoveries: list[RecoveryRequest]
    personal_account_number: str | None  # as the resident gave it on the ticket

    @strawberry.field(description="True when the ticket's personal account number belongs to the account it names.")
    async def personal_account_matched(self, info: Info) -> bool:
        filed_by = parse_id(self.filed_by_account_id) if self.filed_by_account_id else None
        return await named_account_holds(self.personal_account_number, self.account_identifier, filed_by,
                                         info.context.rt.settings.default_region)

    @classmethod
    def from_details(cls, d: desk.TicketDetails) -> SupportTicketDetails:
        t = d.ticket
        account_id = t.account_id  # type: ignore[attr-defined]
        return cls(
            number=t.number,
            status=TicketStatus(str(t.status)),
            category=TicketCategory(str(t.category)),
            full_name=t.full_name,
            registration_address=t.registration_address,
            phone=t.phone,
            account_identifier=t.account_identifier,
            reply_email=t.reply_email,
            personal_account_number=t.personal_account_number,
            description=t.description,
            locale=t.locale,
            filed_by_account_id=strawberry.ID(str(account_id)) if account_id else None,
            assigned_to=StaffMember.of(t.assigned_to),
            consent_given_at=t.consent_given_at,
            consent_version=t.consent_version,
            created_at=t.created_at,
            updated_at=t.updated_at,
            messages=[TicketMessage(body=m.body, created_at=m.created_at) for m in d.messages],
            history=[
                TicketStatusChange(
                    from_status=TicketStatus(str(e.from_status)) if e.from_status else None,
                    to_status=TicketStatus(str(e.to_status)),
                    actor_id=strawberry.ID(str(e.actor_id)) if e.actor_id else None,  # type: ignore[attr-defined]
                    occurred_at=e.occurred_at,
                    public_message=e.public_message,
                )
                for e in d.events
            ],
            notes=[
                TicketNote(id=strawberry.ID(str(n.id)), body=n.body, author=StaffMember.of(n.author),
                           created_at=n.created_at)
                for n in d.notes
            ],
            ownership_checks=[OwnershipCheck.from_model(v) for v in d.verifications],
            recoveries=[RecoveryRequest.from_model(r) for r in d.recoveries],
        )


SupportTicketsResult = Annotated[
    SupportTicketConnection | NotAuthenticated | Forbidden | ValidationError, strawberry.union("SupportTicketsResult")
]
SupportTicketDetailsResult = Annotated[
    SupportTicketDetails | NotAuthenticated | Forbidden | NotFound, strawberry.union("SupportTicketDetailsResult")
]


@strawberry.type
class SupportTicketUpdated:
    ticket: QueuedTicket


SupportTicketUpdateResult = Annotated[
    SupportTicketUpdated | NotAuthenticated | Forbidden | NotFound | ActionRefused | ValidationError,
    strawberry.union("SupportTicketUpdateResult"),
]


@strawberry.type
class TicketNoteAdded:
    note: TicketNote


AddTicketNoteResult = Annotated[
    TicketNoteAdded | NotAuthenticated | Forbidden | NotFound | ValidationError, strawberry.union("AddTicketNoteResult")
]


@strawberry.type
class OwnershipRecorded:
    check: OwnershipCheck


VerifyOwnershipResult = Annotated[
    OwnershipRecorded | NotAuthenticated | Forbidden | NotFound | ValidationError,
    strawberry.union("VerifyOwnershipResult"),
]


@strawberry.type
class RecoveryUpdated:
    recovery: RecoveryRequest


RecoveryResult = Annotated[
    RecoveryUpdated | NotAuthenticated | Forbidden | NotFound | ActionRefused | ValidationError,
    strawberry.union("RecoveryResult"),
]




@strawberry.type
class DeskQuery:
    @strawberry.field(description="STAFF: the ticket queue, newest first, with cursor pagination and a total.",
                      extensions=[requires(IsStaff)])
    async def support_tickets(
        self,
        info: Info,
        status: TicketStatus | None = None,
        category: TicketCategory | None = None,
        assigned_to_me: bool = False,
        search: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> SupportTicketsResult:
        ctx = info.context
        assert ctx.account is not None
        try:
            page = await desk.list_tickets(
                ctx.rt,
                staff=ctx.account,
                status=status,
                category=category,
                assigned_to_me=assigned_to_me,
                search=search,
                first=first,
                after=after,
            )
        except FieldProblem as problem:
            return validation_error(problem, ctx.lang)
        return SupportTicketConnection(
            nodes=[QueuedTicket.from_row(r) for r in page.items],
            total_count=page.total_count,
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
        )

    @strawberry.field(description="STAFF: the full ticket with the resident's submitted details.",
                      extensions=[requires(IsStaff)])
    async def support_ticket_details(self, info: Info, number: str) -> SupportTicketDetailsResult:
        ctx = info.context
        assert ctx.account is not None
        found = await desk.ticket_details(ctx.rt, number[:32], staff=ctx.account, client=ctx.client)
        return outcome_result(found, ctx.lang, SupportTicketDetails.from_details)


def _ticket_updated(ticket: TicketModel) -> SupportTicketUpdated:
    return SupportTicketUpdated(ticket=QueuedTicket.from_model(ticket))


def _recovery_updated(request: RecoveryRequestModel) -> RecoveryUpdated:
    return RecoveryUpdated(recovery=RecoveryRequest.from_model(request))


@strawberry.type
class DeskMutation:
    @strawberry.mutation(description="STAFF: assign a ticket (to yourself when staffAccountId is omitted).",
                         extensions=[requires(IsStaff)])
    async def assign_support_ticket(
        self, info: Info, number: str, staff_account_id: strawberry.ID | None = None
    ) -> SupportTicketUpdateResult:
        ctx = info.context
        assert ctx.account is not None
        try:
            assignee = parse_id(staff_account_id, "staffAccountId") if staff_account_id else None
        except FieldProblem as problem:
            return validation_error(problem, ctx.lang)
        result = await desk.assign(ctx.rt, number[:32], assignee, staff=ctx.account, client=ctx.client)
        return outcome_result(result, ctx.lang, _ticket_updated)

    @strawberry.mutation(description="STAFF: change a ticket's status; a public message is shown and mailed.",
                         extensions=[requires(IsStaff)])
    async def change_support_ticket_status(
        self, info: Info, number: str, status: TicketStatus, public_message: str | None = None
    ) -> SupportTicketUpdateResult:
        ctx = info.context
        assert ctx.account is not None
        result = await desk.change_status(
            ctx.rt, number[:32], status, public_message, staff=ctx.account, client=ctx.client
        )
        return outcome_result(result, ctx.lang, _ticket_updated)

    @strawberry.mutation(description="STAFF: an internal note, never shown to the resident.",
                         extensions=[requires(IsStaff)])
    async def add_support_ticket_note(self, info: Info, number: str, body: str) -> AddTicketNoteResult:
        ctx = info.context
        assert ctx.account is not None
        result = await desk.add_note(ctx.rt, number[:32], body, staff=ctx.account, client=ctx.client)
        return outcome_result(
            result,
            ctx.lang,
            lambda n: TicketNoteAdded(note=TicketNote(id=strawberry.ID(str(n.id)), body=n.body,
                                                      author=StaffMember.of(ctx.account), created_at=n.created_at)),
        )

    @strawberry.mutation(
        description="STAFF: link a ticket to an account and record which evidence matched and the outcome.",
        extensions=[requires(IsStaff)],
    )
    async def verify_ticket_ownership(
        self,
        info: Info,
        number: str,
        account_identifier: str,
        evidence: list[OwnershipEvidence],
        outcome: VerificationOutcome,
        documents: str | None = None,
        comment: str | None = None,
    ) -> VerifyOwnershipResult:
        ctx = info.context
        assert ctx.account is not None
        result = await desk.verify_ownership(
            ctx.rt,
            number[:32],
            account_identifier,
            evidence=list(evidence),
            outcome=outcome,
            documents=documents,
            comment=comment,
            staff=ctx.account,
            client=ctx.client,
        )
        return outcome_result(
            result, ctx.lang, lambda v: OwnershipRecorded(check=OwnershipCheck.from_model(v))
        )

    @strawberry.mutation(description="STAFF: on a verified ticket, mail a reset link to the account's own e-mail.",
                         extensions=[requires(IsStaff)])
    async def send_recovery_reset_link(self, info: Info, number: str) -> RecoveryResult:
        ctx = info.context
        assert ctx.account is not None
        result = await desk.send_reset_link(ctx.rt, number[:32], staff=ctx.account, client=ctx.client)
        return outcome_result(result, ctx.lang, _recovery_updated)

    @strawberry.mutation(
        description="STAFF: on a verified ticket, propose moving the account to a new e-mail (the ticket's reply "
        "address by default); an admin other than you must approve.",
        extensions=[requires(IsStaff)],
    )
    async def request_recovery_email_change(
        self, info: Info, number: str, new_email: str | None = None
    ) -> RecoveryResult:
        ctx = info.context
        assert ctx.account is not None
        result = await desk.request_email_change(ctx.rt, number[:32], new_email, staff=ctx.account, client=ctx.client)
        return outcome_result(result, ctx.lang, _recovery_updated)

    @strawberry.mutation(
        description="ADMIN (not the requester): approve an e-mail change; the reset link goes to the new address.",
        extensions=[requires(IsAdmin, on_denied=lambda info, args: _audit_refused_decision(info, args, True))],
    )
    async def approve_recovery_email_change(self, info: Info, recovery_id: strawberry.ID) -> RecoveryResult:
        return await _decide(info, recovery_id, True)

    @strawberry.mutation(
        description="ADMIN: reject a proposed e-mail change.",
        extensions=[requires(IsAdmin, on_denied=lambda info, args: _audit_refused_decision(info, args, False))],
    )
    async def reject_recovery_email_change(self, info: Info, recovery_id: strawberry.ID) -> RecoveryResult:
        return await _decide(info, recovery_id, False)

    @strawberry.mutation(
        description="STAFF: on a verified ticket, propose removing the account's lost second factor (TOTP and "
        "recovery codes); an admin other than you must approve.",
        extensions=[requires(IsStaff)],
    )
    async def propose_second_factor_removal(self, info: Info, number: str) -> RecoveryResult:
        ctx = info.context
        assert ctx.account is not None
        result = await desk.propose_second_factor_removal(ctx.rt, number[:32], staff=ctx.account, client=ctx.client)
        return outcome_result(result, ctx.lang, _recovery_updated)

    @strawberry.mutation(
        description="ADMIN (not the proposer): approve removing a second factor; it is removed at once.",
        extensions=[requires(IsAdmin, on_denied=lambda info, args: _audit_refused_decision(info, args, True))],
    )
    async def approve_second_factor_removal(self, info: Info, recovery_id: strawberry.ID) -> RecoveryResult:
        return await _decide(info, recovery_id, True, RecoveryKind.SECOND_FACTOR)

    @strawberry.mutation(
        description="ADMIN: reject a proposed second-factor removal.",
        extensions=[requires(IsAdmin, on_denied=lambda info, args: _audit_refused_decision(info, args, False))],
    )
    async def reject_second_factor_removal(self, info: Info, recovery_id: strawberry.ID) -> RecoveryResult:
        return await _decide(info, recovery_id, False, RecoveryKind.SECOND_FACTOR)


async def _audit_refused_decision(info: Any, args: dict[str, Any], approve: bool) -> None:
    """A signed-in non-admin tried to approve or reject an e-mail change: the desk audits the refusal."""
    ctx = info.context
    try:
        request_id = parse_id(str(args.get("recovery_id", "")), "recoveryId")
    except FieldProblem:
        request_id = None
    await desk.refuse_decision_by_role(ctx.rt, request_id, approve, staff=ctx.account, client=ctx.client)


async def _decide(
    info: Info, recovery_id: strawberry.ID, approve: bool, kind: RecoveryKind = RecoveryKind.EMAIL_CHANGE
) -> RecoveryResult:
    ctx = info.context
    admin = ctx.account
    assert admin is not None
    return await on_id(
        recovery_id,
        ctx.lang,
        lambda request_id: desk.decide_email_change(
            ctx.rt, request_id, approve, admin=admin, client=ctx.client, kind=kind
        ),
        _recovery_updated,
        "recoveryId",
    )
