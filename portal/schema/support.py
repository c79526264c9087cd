"""Support tickets: thin resolvers over the `support.tickets` package."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from portal.core.errors import Invalid, TooMany
from portal.models.support import TicketCategory, TicketStatus
from portal.schema.context import Info
from portal.schema.errors import TooManyAttempts, ValidationError, too_many, validation_error
from portal.support.tickets.lookup import TicketView, find_ticket, tickets_of
from portal.support.tickets.submission import submit_ticket
from portal.support.tickets.validation import TicketForm

strawberry.enum(TicketCategory, name="TicketCategory")  # the model's own enum, as GraphQL sees it


strawberry.enum(TicketStatus, name="TicketStatus")  # the model's own enum, as GraphQL sees it


@strawberry.type
class TicketMessage:
    body: str
    created_at: datetime


@strawberry.type
class SupportTicket:
    number: str
    status: TicketStatus
    category: TicketCategory
    created_at: datetime
    updated_at: datetime
    messages: list[TicketMessage]

    @classmethod
    def from_view(cls, view: TicketView) -> SupportTicket:
        ticket = view.ticket
        return cls(
            number=ticket.number,
            status=TicketStatus(str(ticket.status)),  # StrEnum: str() is the stored value
            category=TicketCategory(str(ticket.category)),
            created_at=ticket.created_at,
            updated_at=ticket.updated_at,
            messages=[TicketMessage(body=m.body, created_at=m.created_at) for m in view.messages],
        )


@strawberry.input
class SupportTicketInput:
    full_name: str
    registration_address: str
    phone: str
    account_identifier: str = strawberry.field(
        description="The login or e-mail tied to the account, as the resident remembers it."
    )
    description: str
    personal_data_consent: bool = strawberry.field(description="Must be true.")
    reply_email: str | None = strawberry.field(
        default=None, description="Where answers go, when not the account's own address."
    )
    category: TicketCategory = TicketCategory.ACCOUNT_ACCESS
    idempotency_key: str | None = strawberry.field(
        default=None, description="A retried submission with the same key returns the same ticket."
    )
    personal_account_number: str | None = strawberry.field(
        default=None, description="The personal account number (лицевой счёт) from the bill, when known."
    )


@strawberry.type
class SupportTicketSubmitted:
    ticket: SupportTicket
    access_key: str = strawberry.field(description="Opens the ticket's status page; shown only now, keep it.")


SubmitSupportTicketResult = Annotated[
    SupportTicketSubmitted | ValidationError | TooManyAttempts, strawberry.union("SubmitSupportTicketResult")
]


@strawberry.type
class SupportQuery:
    @strawberry.field(description="A ticket by its number and access key; null on any mismatch.")
    async def support_ticket(self, info: Info, number: str, access_key: str) -> SupportTicket | None:
        view = await find_ticket(info.context.rt, number, access_key)
        return SupportTicket.from_view(view) if view else None

    @strawberry.field(description="The signed-in resident's own tickets, newest first; empty when not signed in.")
    async def my_support_tickets(self, info: Info) -> list[SupportTicket]:
        account = info.context.account
        if account is None:
            return []
        return [SupportTicket.from_view(v) for v in await tickets_of(account.id)]


@strawberry.type
class SupportMutation:
    @strawberry.mutation(description="File a support ticket, signed in or not; the answer carries its access key.")
    async def submit_support_ticket(self, info: Info, input: SupportTicketInput) -> SubmitSupportTicketResult:  # noqa: A002
        ctx = info.context
        form = TicketForm(
            full_name=input.full_name,
            registration_address=input.registration_address,
            phone=input.phone,
            account_identifier=input.account_identifier,
            description=input.description,
            personal_data_consent=input.personal_data_consent,
            category=input.category,
            reply_email=input.reply_email,
            idempotency_key=input.idempotency_key,
            personal_account_number=input.personal_account_number,
        )
        outcome = await submit_ticket(ctx.rt, form, account=ctx.account, client=ctx.client)
        if isinstance(outcome, Invalid):
            return validation_error(outcome, ctx.lang)
        if isinstance(outcome, TooMany):
            return too_many(outcome, ctx.lang)
        return SupportTicketSubmitted(ticket=SupportTicket.from_view(outcome.view), access_key=outcome.access_key)
