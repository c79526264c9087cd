"""Working a ticket: assignment, status changes with a public message, internal notes."""

from __future__ import annotations

from uuid import UUID

from tortoise.transactions import in_transaction

from portal.core.client import ClientInfo
from portal.core.errors import FieldCode, FieldProblem, Invalid, RefusalCode
from portal.core.i18n import t
from portal.core.runtime import Runtime
from portal.mail.outbox import enqueue
from portal.models.accounts import Account, AccountStatus, Role
from portal.models.audit import record
from portal.models.desk import (
    TicketNote,
)
from portal.models.support import Ticket, TicketStatus
from portal.support.accounts import NotFound, Refused
from portal.support.desk.common import MESSAGE_MAX, NOTE_MAX, load_ticket, optional_text
from portal.support.tickets import status as ticket_status


async def assign(
    rt: Runtime, number: str, assignee_id: UUID | None, *, staff: Account, client: ClientInfo
) -> Ticket | NotFound | Refused:
    """Assigns the ticket to a staff member (the caller when `assignee_id` is None)."""
    ticket = await load_ticket(number)
    if ticket is None:
        return NotFound()
    assignee = staff if assignee_id is None else await Account.filter(id=assignee_id).first()
    if assignee is None:
        return NotFound()
    if assignee.role not in (Role.STAFF, Role.ADMIN) or assignee.status != AccountStatus.ACTIVE:
        return Refused(RefusalCode.NOT_STAFF)
    previous = ticket.assigned_to_id  # type: ignore[attr-defined]
    async with in_transaction():
        await Ticket.filter(id=ticket.id).update(assigned_to_id=assignee.id, updated_at=rt.clock.now())
        await record(
            rt, "ticket.assigned", actor_id=staff.id, ticket_number=ticket.number, client=client,
            details={"from": str(previous) if previous else None, "to": str(assignee.id)},
        )
    ticket.assigned_to = assignee
    return ticket




def _reply_address(ticket: Ticket) -> str | None:
    account: Account | None = ticket.account
    return ticket.reply_email or (account.email if account is not None else None)


async def change_status(
    rt: Runtime,
    number: str,
    status: TicketStatus,
    public_message: str | None,
    *,
    staff: Account,
    client: ClientInfo,
) -> Ticket | NotFound | Refused | Invalid:
    """Records the change with actor and time; a public message is shown on the ticket and mailed."""
    try:
        message = optional_text(public_message, "publicMessage", MESSAGE_MAX)
    except FieldProblem as problem:
        return Invalid.of(problem)
    ticket = await load_ticket(number)
    if ticket is None:
        return NotFound()
    if ticket.status == status:
        return Refused(RefusalCode.UNCHANGED)
    async with in_transaction():
        event = await ticket_status.change_status(
            rt, ticket, status, actor_id=staff.id, public_message=message, client=client
        )
        if event is None:
            return Refused(RefusalCode.UNCHANGED)
        to = _reply_address(ticket)
        if to:
            await enqueue(
                rt,
                template="desk_ticket_update",
                to=to,
                lang=ticket.locale,
                context={
                    "number": ticket.number,
                    "status_label": t(f"mail.ticket_status.{status.value}", ticket.locale),
                    "message": message,
                },
            )
    # support.tickets.status.change_status wrote the audit event (ticket.status_changed) with actor, time and client.
    return ticket


async def add_note(
    rt: Runtime, number: str, body: str, *, staff: Account, client: ClientInfo
) -> TicketNote | NotFound | Invalid:
    """An internal note: staff only, never on the resident's side."""
    try:
        text = optional_text(body, "body", NOTE_MAX)
    except FieldProblem as problem:
        return Invalid.of(problem)
    if text is None:
        return Invalid.of(FieldProblem("body", FieldCode.REQUIRED))
    ticket = await load_ticket(number)
    if ticket is None:
        return NotFound()
    async with in_transaction():
        note = await TicketNote.create(ticket_number=ticket.number, author=staff, body=text, created_at=rt.clock.now())
        await record(rt, "ticket.note_added", actor_id=staff.id, ticket_number=ticket.number, client=client,
                     details={"note_id": note.id})
    return note
