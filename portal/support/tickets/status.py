"""A ticket's status change: the building block the staff desk's `change_status` works through."""

from __future__ import annotations

from uuid import UUID

from tortoise.transactions import in_transaction

from portal.core.client import ClientInfo
from portal.core.runtime import Runtime
from portal.models.audit import record
from portal.models.support import Ticket, TicketEvent, TicketMessage, TicketStatus


async def change_status(
    rt: Runtime,
    ticket: Ticket,
    to_status: TicketStatus,
    *,
    actor_id: UUID | None,
    public_message: str | None = None,
    client: ClientInfo | None = None,
) -> TicketEvent | None:
    """Moves a ticket to a new status and records who, when, from where and what the resident was told.

    One conditional UPDATE on the status the caller saw, so two concurrent changes cannot both win;
    None when the ticket was changed in the meantime (or already has that status).
    """
    now = rt.clock.now()
    from_status = ticket.status
    if to_status == from_status:
        return None
    async with in_transaction():
        changed = await Ticket.filter(id=ticket.id, status=from_status).update(status=to_status, updated_at=now)
        if not changed:
            return None
        body = public_message.strip() if public_message else None
        event = await TicketEvent.create(
            ticket_id=ticket.id,
            from_status=from_status,
            to_status=to_status,
            actor_id=actor_id,
            occurred_at=now,
            public_message=body or None,
        )
        if body:
            await TicketMessage.create(ticket_id=ticket.id, author_id=actor_id, body=body, created_at=now)
        await record(
            rt,
            "ticket.status_changed",
            actor_id=actor_id,
            ticket_number=ticket.number,
            client=client,
            details={"from": from_status.value, "to": to_status.value},
        )
    ticket.status = to_status
    ticket.updated_at = now
    return event
