"""Limits and read models every part of the desk shares."""

from __future__ import annotations

import re
from dataclasses import dataclass

from portal.core.errors import FieldCode, FieldProblem
from portal.models.desk import (
    OwnershipVerification,
    RecoveryRequest,
    TicketNote,
)
from portal.models.support import Ticket, TicketEvent, TicketMessage
from portal.support.tickets.numbers import NUMBER_RE

CURSOR_KIND = "ticket"
NOTE_MAX = 5000
MESSAGE_MAX = 5000
DOCUMENTS_MAX = 300
SEARCH_MAX = 200


@dataclass(frozen=True)
class TicketDetails:
    """Everything staff see on one ticket."""

    ticket: Ticket
    messages: list[TicketMessage]
    events: list[TicketEvent]
    notes: list[TicketNote]
    verifications: list[OwnershipVerification]
    recoveries: list[RecoveryRequest]

async def load_ticket(number: str) -> Ticket | None:
    number = number.strip()
    if not NUMBER_RE.fullmatch(number):
        return None
    return await Ticket.filter(number=number).select_related("assigned_to", "account").first()


def optional_text(raw: str | None, field: str, maximum: int) -> str | None:
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    if len(text) > maximum:
        raise FieldProblem(field, FieldCode.TOO_LONG, max=maximum)
    if re.search(r"[\x00-\x09\x0b-\x1f\x7f]", text):
        raise FieldProblem(field, FieldCode.INVALID_CHARACTERS)
    return text
