"""Reading tickets on the resident's side: by number and access key, or a signed-in resident's own."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from portal.core.runtime import Runtime
from portal.models.support import Ticket, TicketMessage
from portal.support.tickets.keys import KEY_PURPOSE
from portal.support.tickets.numbers import NUMBER_RE

ACCESS_KEY_MAX = 128

# Compared against when the number is unknown, so a miss costs what a wrong key costs.
_DUMMY_HASH = "0" * 64


@dataclass(frozen=True)
class TicketView:
    """A ticket as its resident sees it: the row and the staff's public messages, oldest first."""

    ticket: Ticket
    messages: list[TicketMessage]


async def view_of(ticket: Ticket) -> TicketView:
    """The ticket with its public messages, oldest first."""
    messages = await TicketMessage.filter(ticket_id=ticket.id).order_by("created_at", "id")
    return TicketView(ticket, list(messages))


async def find_ticket(rt: Runtime, number: str, access_key: str) -> TicketView | None:
    """The ticket when the number and its access key match; None for any mismatch, in the same work."""
    number = number.strip()
    if not NUMBER_RE.fullmatch(number) or not access_key or len(access_key) > ACCESS_KEY_MAX:
        return None
    presented = rt.tokens.digest(KEY_PURPOSE, access_key)
    ticket = await Ticket.get_or_none(number=number)
    stored = ticket.access_key_hash if ticket is not None else _DUMMY_HASH
    if not rt.tokens.equal(stored, presented) or ticket is None:
        return None
    return await view_of(ticket)


async def tickets_of(account_id: UUID) -> list[TicketView]:
    """The tickets a signed-in resident filed, newest first, each with its public messages."""
    tickets = await Ticket.filter(account_id=account_id).order_by("-created_at", "-id").prefetch_related("messages")
    return [
        TicketView(t, sorted(t.messages, key=lambda m: (m.created_at, m.id)))  # type: ignore[attr-defined]
        for t in tickets
    ]
