"""The staff queue: search, filters, keyset paging, and one ticket's details as staff see them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from tortoise.expressions import Q

from portal.core.client import ClientInfo
from portal.core.errors import FieldCode, FieldProblem
from portal.core.runtime import Runtime
from portal.identity.identifiers import has_control_characters, normalize_phone
from portal.models.accounts import Account
from portal.models.audit import record
from portal.models.desk import (
    OwnershipVerification,
    RecoveryRequest,
    TicketNote,
)
from portal.models.support import Ticket, TicketCategory, TicketEvent, TicketMessage, TicketStatus
from portal.support.accounts import NotFound
from portal.support.desk.common import CURSOR_KIND, SEARCH_MAX, TicketDetails, load_ticket
from portal.support.paging import Page, decode_cursor, encode_cursor, page_size


@dataclass(frozen=True)
class QueueRow:
    """One line of the queue: only the columns the list shows (no model hydration of 25 columns)."""

    id: int
    number: str
    status: TicketStatus
    category: TicketCategory
    full_name: str
    phone: str
    reply_email: str | None
    account_identifier: str
    assigned_to_id: UUID | None
    assigned_to_name: str | None
    created_at: datetime
    updated_at: datetime


_QUEUE_COLUMNS = (
    "id", "number", "status", "category", "full_name", "phone", "reply_email", "account_identifier",
    "assigned_to_id", "created_at", "updated_at",
)
_NUMBER_PREFIX_RE = re.compile(r"^\d{4}-\d*$")
_PHONE_LIKE_RE = re.compile(r"^[\d\s()+.\-]+$")
_LOGIN_LIKE_RE = re.compile(r"^[A-Za-z0-9._-]+$")


def _search_condition(raw: str, region: str) -> Q:
    """What the text looks like decides where to look, so each search scans as few columns as it can:
    a ticket number (its prefix), an e-mail (reply address and the identifier the resident gave), a phone in
    any notation (exact E.164, else the digits), else a name (and, for Latin text without spaces, a login)."""
    text = raw.strip()[:SEARCH_MAX]
    if _NUMBER_PREFIX_RE.fullmatch(text):
        return Q(number__startswith=text)
    if "@" in text:
        lowered = text.lower()
        return Q(reply_email__contains=lowered) | Q(account_identifier__icontains=lowered)
    digits = re.sub(r"\D", "", text)
    if _PHONE_LIKE_RE.fullmatch(text) and len(digits) >= 4:
        try:
            return Q(phone=normalize_phone(text, region))
        except FieldProblem:
            # Part of a number: match its digits (a leading 8 or 7 of a Russian number is the country code).
            tail = digits[1:] if len(digits) >= 11 and digits[0] in "78" else digits
            return Q(phone__contains=tail)
    if _LOGIN_LIKE_RE.fullmatch(text):  # could be a login the resident typed as the account identifier
        return Q(full_name__icontains=text) | Q(account_identifier__icontains=text)
    return Q(full_name__icontains=text)  # spaces or Cyrillic: a name, one column to scan


async def list_tickets(
    rt: Runtime,
    *,
    staff: Account,
    status: TicketStatus | None = None,
    category: TicketCategory | None = None,
    assigned_to_me: bool = False,
    search: str | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Page[QueueRow]:
    """The queue, newest first. Raises FieldProblem for a bad page size, cursor or search text."""
    size = page_size(first)
    after_id = decode_cursor(CURSOR_KIND, after)
    query = Ticket.all()
    if status is not None:
        query = query.filter(status=status)
    if category is not None:
        query = query.filter(category=category)
    if assigned_to_me:
        query = query.filter(assigned_to_id=staff.id)
    if search and search.strip():
        if has_control_characters(search):
            raise FieldProblem("search", FieldCode.INVALID_CHARACTERS)
        # One pass collects the matching ids (a trigram-index bitmap on PostgreSQL, no ORDER BY/LIMIT to lure
        # the planner into walking the whole primary key backwards); total and page come from that list.
        matching = query.filter(_search_condition(search, rt.settings.default_region))
        ids: list[int] = sorted(await matching.values_list("id", flat=True), reverse=True)  # type: ignore[arg-type]
        total = len(ids)
        if after_id is not None:
            ids = [i for i in ids if i < after_id]
        wanted = ids[: size + 1]
        found = await Ticket.filter(id__in=wanted).values(*_QUEUE_COLUMNS) if wanted else []
        rows = sorted(found, key=lambda r: -r["id"])
    else:
        total = await query.count()
        if after_id is not None:
            query = query.filter(id__lt=after_id)
        rows = await query.order_by("-id").limit(size + 1).values(*_QUEUE_COLUMNS)
    staff_ids = {r["assigned_to_id"] for r in rows[:size] if r["assigned_to_id"]}
    names = dict(await Account.filter(id__in=staff_ids).values_list("id", "full_name")) if staff_ids else {}
    items = [
        QueueRow(
            **r,
            assigned_to_name=names.get(r["assigned_to_id"]) if r["assigned_to_id"] else None,
        )
        for r in rows[:size]
    ]
    return Page(items, total, len(rows) > size, encode_cursor(CURSOR_KIND, items[-1].id) if items else None)




async def ticket_details(rt: Runtime, number: str, *, staff: Account, client: ClientInfo) -> TicketDetails | NotFound:
    """The full ticket with what the resident submitted; reading it is audited (it is personal data)."""
    ticket = await load_ticket(number)
    if ticket is None:
        return NotFound()
    messages = await TicketMessage.filter(ticket_id=ticket.id).order_by("created_at", "id")
    events = await TicketEvent.filter(ticket_id=ticket.id).order_by("occurred_at", "id")
    notes = await TicketNote.filter(ticket_number=ticket.number).order_by("id").select_related("author")
    checks = await OwnershipVerification.filter(ticket_number=ticket.number).order_by("id").select_related(
        "account", "staff"
    )
    recoveries = await RecoveryRequest.filter(ticket_number=ticket.number).order_by("created_at")
    await record(rt, "ticket.viewed", actor_id=staff.id, ticket_number=ticket.number, client=client)
    return TicketDetails(ticket, list(messages), list(events), list(notes), list(checks), list(recoveries))
