"""The staff desk: the ticket queue, working a ticket, proving ownership, and assisted recovery.

Rules that make it safe by construction:
- recovery only on a ticket whose latest ownership check says VERIFIED, and only for that account;
- staff never see or set a password: recovery is always a reset link the owner uses themselves;
- moving an account to a new e-mail needs a second person (an ADMIN who did not request it), changes
  nothing until the new address spends its link, and is announced to the old address;
- every step is one audit event with actor, subject, ticket number and client address.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from portal.core.client import ClientInfo
from portal.core.errors import FieldProblem, Invalid
from portal.core.runtime import Runtime
from portal.core.tokens import new_token
from portal.identity.email_change import mask_email
from portal.identity.identifiers import has_control_characters, normalize_email, normalize_phone
from portal.identity.personal_accounts import read_number
from portal.mail.outbox import enqueue
from portal.models.accounts import Account, AccountStatus, Role
from portal.models.audit import record
from portal.models.desk import (
    Evidence,
    OwnershipVerification,
    RecoveryKind,
    RecoveryRequest,
    RecoveryStatus,
    TicketNote,
    VerificationOutcome,
)
from portal.models.reset import PasswordResetToken
from portal.models.support import Ticket, TicketCategory, TicketEvent, TicketMessage, TicketStatus
from portal.support import tickets as ticket_service
from portal.support.accounts import NotFound, Refused, find_account_ref
from portal.support.paging import Page, decode_cursor, encode_cursor, page_size

CURSOR_KIND = "ticket"
NOTE_MAX = 5000
MESSAGE_MAX = 5000
DOCUMENTS_MAX = 300
SEARCH_MAX = 200

STATUS_LABELS = {
    "ru": {
        TicketStatus.NEW: "новая",
        TicketStatus.IN_PROGRESS: "в работе",
        TicketStatus.WAITING_FOR_RESIDENT: "ждёт вашего ответа",
        TicketStatus.RESOLVED: "решена",
        TicketStatus.REJECTED: "отклонена",
    },
    "en": {
        TicketStatus.NEW: "new",
        TicketStatus.IN_PROGRESS: "in progress",
        TicketStatus.WAITING_FOR_RESIDENT: "waiting for your reply",
        TicketStatus.RESOLVED: "resolved",
        TicketStatus.REJECTED: "rejected",
    },
}


@dataclass(frozen=True)
class TicketDetails:
    """Everything staff see on one ticket."""

    ticket: Ticket
    messages: list[TicketMessage]
    events: list[TicketEvent]
    notes: list[TicketNote]
    verifications: list[OwnershipVerification]
    recoveries: list[RecoveryRequest]


# --- the queue ------------------------------------------------------------------------------------------------


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
    """`_text_condition`, or the personal account number a ticket carries (digits read as a phone too)."""
    condition = _text_condition(raw, region)
    number = read_number(raw.strip()[:SEARCH_MAX])
    return condition | Q(personal_account_number=number) if number else condition


def _text_condition(raw: str, region: str) -> Q:
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
            raise FieldProblem("search", "INVALID_CHARACTERS")
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


async def _ticket(number: str) -> Ticket | None:
    number = number.strip()
    if not ticket_service.NUMBER_RE.fullmatch(number):
        return None
    return await Ticket.filter(number=number).select_related("assigned_to", "account").first()


async def ticket_details(rt: Runtime, number: str, *, staff: Account, client: ClientInfo) -> TicketDetails | NotFound:
    """The full ticket with what the resident submitted; reading it is audited (it is personal data)."""
    ticket = await _ticket(number)
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


# --- working a ticket -----------------------------------------------------------------------------------------


async def assign(
    rt: Runtime, number: str, assignee_id: UUID | None, *, staff: Account, client: ClientInfo
) -> Ticket | NotFound | Refused:
    """Assigns the ticket to a staff member (the caller when `assignee_id` is None)."""
    ticket = await _ticket(number)
    if ticket is None:
        return NotFound()
    assignee = staff if assignee_id is None else await Account.filter(id=assignee_id).first()
    if assignee is None:
        return NotFound()
    if assignee.role not in (Role.STAFF, Role.ADMIN) or assignee.status != AccountStatus.ACTIVE:
        return Refused("NOT_STAFF")
    previous = ticket.assigned_to_id  # type: ignore[attr-defined]
    async with in_transaction():
        await Ticket.filter(id=ticket.id).update(assigned_to_id=assignee.id, updated_at=rt.clock.now())
        await record(
            rt, "ticket.assigned", actor_id=staff.id, ticket_number=ticket.number, client=client,
            details={"from": str(previous) if previous else None, "to": str(assignee.id)},
        )
    ticket.assigned_to = assignee
    return ticket


def _message(raw: str | None, field: str, maximum: int) -> str | None:
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    if len(text) > maximum:
        raise FieldProblem(field, "TOO_LONG", max=maximum)
    if re.search(r"[\x00-\x09\x0b-\x1f\x7f]", text):
        raise FieldProblem(field, "INVALID_CHARACTERS")
    return text


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
        message = _message(public_message, "publicMessage", MESSAGE_MAX)
    except FieldProblem as problem:
        return Invalid.of(problem)
    ticket = await _ticket(number)
    if ticket is None:
        return NotFound()
    if ticket.status == status:
        return Refused("UNCHANGED")
    async with in_transaction():
        event = await ticket_service.change_status(
            rt, ticket, status, actor_id=staff.id, public_message=message, client=client
        )
        if event is None:
            return Refused("UNCHANGED")
        to = _reply_address(ticket)
        if to:
            lang = ticket.locale if ticket.locale in STATUS_LABELS else "ru"
            await enqueue(
                rt,
                template="desk_ticket_update",
                to=to,
                lang=lang,
                context={"number": ticket.number, "status_label": STATUS_LABELS[lang][status], "message": message},
            )
    # support.tickets.change_status wrote the audit event (ticket.status_changed) with actor, time and client.
    return ticket


async def add_note(
    rt: Runtime, number: str, body: str, *, staff: Account, client: ClientInfo
) -> TicketNote | NotFound | Invalid:
    """An internal note: staff only, never on the resident's side."""
    try:
        text = _message(body, "body", NOTE_MAX)
    except FieldProblem as problem:
        return Invalid.of(problem)
    if text is None:
        return Invalid.of(FieldProblem("body", "REQUIRED"))
    ticket = await _ticket(number)
    if ticket is None:
        return NotFound()
    async with in_transaction():
        note = await TicketNote.create(ticket_number=ticket.number, author=staff, body=text, created_at=rt.clock.now())
        await record(rt, "ticket.note_added", actor_id=staff.id, ticket_number=ticket.number, client=client,
                     details={"note_id": note.id})
    return note


# --- ownership ------------------------------------------------------------------------------------------------


async def verify_ownership(
    rt: Runtime,
    number: str,
    account_ref: str,
    *,
    evidence: list[Evidence],
    outcome: VerificationOutcome,
    documents: str | None,
    comment: str | None,
    staff: Account,
    client: ClientInfo,
) -> OwnershipVerification | NotFound | Invalid:
    """Links the ticket to an account and records which evidence matched and the outcome.

    The account's current e-mail owner is told once per ticket that a recovery case was opened, so an
    owner who did not file it can object before anything changes.
    """
    problems = []
    try:
        docs = _message(documents, "documents", DOCUMENTS_MAX)
    except FieldProblem as problem:
        problems.append(problem)
        docs = None
    try:
        note = _message(comment, "comment", NOTE_MAX)
    except FieldProblem as problem:
        problems.append(problem)
        note = None
    if Evidence.DOCUMENTS_SEEN in evidence and not docs:
        problems.append(FieldProblem("documents", "REQUIRED"))
    if outcome == VerificationOutcome.VERIFIED and not evidence:
        problems.append(FieldProblem("evidence", "REQUIRED"))
    if problems:
        return Invalid(problems)
    ticket = await _ticket(number)
    account = await find_account_ref(rt, account_ref[:300])
    if ticket is None or account is None or account.erased_at is not None:
        return NotFound()
    first_link = not await OwnershipVerification.filter(ticket_number=ticket.number, account_id=account.id).exists()
    async with in_transaction():
        check = await OwnershipVerification.create(
            ticket_number=ticket.number,
            account=account,
            staff=staff,
            evidence=sorted({e.value for e in evidence}),
            documents=docs,
            comment=note,
            outcome=outcome,
            created_at=rt.clock.now(),
        )
        if first_link and account.email:
            await enqueue(
                rt,
                template="recovery_case_opened",
                to=account.email,
                lang=account.preferred_language or "ru",
                context={"full_name": account.full_name, "number": ticket.number,
                         "support_url": f"{rt.settings.public_url}/support"},
                dedupe_key=f"recovery_case_opened:{ticket.number}:{account.id}",
            )
        await record(
            rt,
            "ticket.ownership_verified" if outcome == VerificationOutcome.VERIFIED else "ticket.ownership_rejected",
            actor_id=staff.id,
            subject_id=account.id,
            ticket_number=ticket.number,
            client=client,
            details={"evidence": check.evidence, "documents": bool(docs), "owner_notified": first_link
                     and bool(account.email)},
        )
    return check


async def _refuse(
    rt: Runtime,
    code: str,
    *,
    step: str,
    staff: Account,
    client: ClientInfo,
    ticket_number: str | None,
    subject_id: UUID | None,
    recovery_id: UUID | None = None,
) -> Refused:
    """A refused recovery step is a security event too: `recovery.refused`, with the rule and the step."""
    details = {"reason": code, "step": step}
    if recovery_id is not None:
        details["recovery_id"] = str(recovery_id)
    await record(rt, "recovery.refused", actor_id=staff.id, subject_id=subject_id, ticket_number=ticket_number,
                 client=client, details=details)
    return Refused(code)


async def _verified_account(
    rt: Runtime, number: str, *, step: str, staff: Account, client: ClientInfo, recovery_id: UUID | None = None
) -> tuple[Ticket, Account] | NotFound | Refused:
    """The ticket and the account its latest ownership check verified; a refusal is audited."""
    ticket = await _ticket(number)
    if ticket is None:
        return NotFound()
    latest = await OwnershipVerification.filter(ticket_number=ticket.number).order_by("-id").select_related(
        "account"
    ).first()
    account: Account | None = latest.account if latest is not None else None
    code: str | None = None
    if latest is None or latest.outcome != VerificationOutcome.VERIFIED or account is None:
        code = "NOT_VERIFIED"
    elif account.erased_at is not None:
        return NotFound()
    elif account.status != AccountStatus.ACTIVE:
        code = "ACCOUNT_DISABLED"
    elif account.password_hash is None:
        code = "NO_PASSWORD"  # a federated-only account recovers through its provider
    if code is not None or account is None:
        return await _refuse(rt, code or "NOT_VERIFIED", step=step, staff=staff, client=client,
                             ticket_number=ticket.number, subject_id=account.id if account else None,
                             recovery_id=recovery_id)
    return ticket, account


# --- assisted recovery ----------------------------------------------------------------------------------------


async def _issue_reset(rt: Runtime, account: Account, to: str) -> int:
    """A fresh reset token for the account (older ones die) and the reset letter to `to`; in the caller's
    transaction. Returns the token row's id."""
    from portal.identity.reset import TOKEN_PURPOSE, reset_link

    now = rt.clock.now()
    expires = now + timedelta(seconds=rt.settings.reset_token_ttl)
    token = new_token()
    await PasswordResetToken.filter(account_id=account.id, used_at__isnull=True, voided_at__isnull=True).update(
        voided_at=now
    )
    row = await PasswordResetToken.create(
        account_id=account.id, token_hash=rt.tokens.digest(TOKEN_PURPOSE, token), created_at=now, expires_at=expires
    )
    await enqueue(
        rt,
        template="password_reset",
        to=to,
        lang=account.preferred_language or "ru",
        context={"full_name": account.full_name, "reset_url": reset_link(rt, token),
                 "valid_minutes": rt.settings.reset_token_ttl // 60},
        expires_at=expires,
    )
    return int(row.id)


async def _supersede(account_id: UUID, now: Any) -> None:
    await RecoveryRequest.filter(
        account_id=account_id, status__in=[RecoveryStatus.AWAITING_APPROVAL, RecoveryStatus.SENT]
    ).update(status=RecoveryStatus.SUPERSEDED, decided_at=now)


async def send_reset_link(
    rt: Runtime, number: str, *, staff: Account, client: ClientInfo
) -> RecoveryRequest | NotFound | Refused:
    """Path (a): a reset link to the verified account's own e-mail address."""
    found = await _verified_account(rt, number, step="reset_link", staff=staff, client=client)
    if not isinstance(found, tuple):
        return found
    ticket, account = found
    if not account.email:
        return await _refuse(rt, "NO_EMAIL", step="reset_link", staff=staff, client=client,
                             ticket_number=ticket.number, subject_id=account.id)
    now = rt.clock.now()
    async with in_transaction():
        await _supersede(account.id, now)
        token_id = await _issue_reset(rt, account, account.email)
        request = await RecoveryRequest.create(
            id=uuid.uuid4(), ticket_number=ticket.number, account=account, kind=RecoveryKind.RESET_LINK,
            status=RecoveryStatus.SENT, old_email=account.email, requested_by=staff, reset_token_ref=str(token_id),
            created_at=now, sent_at=now,
        )
        await record(rt, "recovery.reset_link_sent", actor_id=staff.id, subject_id=account.id,
                     ticket_number=ticket.number, client=client, details={"recovery_id": str(request.id)})
    return request


async def request_email_change(
    rt: Runtime, number: str, new_email: str | None, *, staff: Account, client: ClientInfo
) -> RecoveryRequest | NotFound | Refused | Invalid:
    """Path (b), step 1: propose moving the account to a new address (the ticket's reply address by default).
    Nothing is sent until an admin other than the requester approves."""
    found = await _verified_account(rt, number, step="email_change_request", staff=staff, client=client)
    if not isinstance(found, tuple):
        return found
    ticket, account = found
    raw = new_email if new_email and new_email.strip() else ticket.reply_email
    if not raw:
        return Invalid.of(FieldProblem("newEmail", "REQUIRED"))
    try:
        address = normalize_email(raw, "newEmail")
    except FieldProblem as problem:
        return Invalid.of(problem)
    refusal = None
    if address == account.email:
        refusal = "SAME_EMAIL"
    elif await Account.filter(email=address).exclude(id=account.id).exists():
        refusal = "EMAIL_TAKEN"
    if refusal is not None:
        return await _refuse(rt, refusal, step="email_change_request", staff=staff, client=client,
                             ticket_number=ticket.number, subject_id=account.id)
    now = rt.clock.now()
    async with in_transaction():
        await _supersede(account.id, now)
        request = await RecoveryRequest.create(
            id=uuid.uuid4(), ticket_number=ticket.number, account=account, kind=RecoveryKind.EMAIL_CHANGE,
            status=RecoveryStatus.AWAITING_APPROVAL, new_email=address, old_email=account.email,
            requested_by=staff, created_at=now,
        )
        await record(rt, "recovery.email_change_requested", actor_id=staff.id, subject_id=account.id,
                     ticket_number=ticket.number, client=client,
                     details={"recovery_id": str(request.id), "new_email": mask_email(address)})
    return request


async def decide_email_change(
    rt: Runtime, request_id: UUID, approve: bool, *, admin: Account, client: ClientInfo
) -> RecoveryRequest | NotFound | Refused:
    """Path (b), step 2: a second person (an ADMIN, not the requester) approves or rejects.

    On approval the reset link goes to the new address and the old address is told; the account's e-mail
    changes only when that link is used (identity.email_change)."""
    request = await RecoveryRequest.filter(id=request_id, kind=RecoveryKind.EMAIL_CHANGE).select_related(
        "account"
    ).first()
    if request is None or request.account is None:
        return NotFound()
    account: Account = request.account
    step = "email_change_approval" if approve else "email_change_rejection"

    async def refuse(code: str) -> Refused:
        return await _refuse(rt, code, step=step, staff=admin, client=client, ticket_number=request.ticket_number,
                             subject_id=account.id, recovery_id=request.id)

    if admin.role != Role.ADMIN:
        return await refuse("ADMIN_ONLY")
    if request.requested_by_id == admin.id:  # type: ignore[attr-defined]
        return await refuse("SAME_APPROVER")
    if request.status != RecoveryStatus.AWAITING_APPROVAL:
        return await refuse("ALREADY_DECIDED")
    if approve:
        # The ticket must still be verified for this account at the moment of approval.
        found = await _verified_account(rt, request.ticket_number, step=step, staff=admin, client=client,
                                        recovery_id=request.id)
        if not isinstance(found, tuple):
            return found
        if found[1].id != account.id:
            return await refuse("NOT_VERIFIED")
        if await Account.filter(email=request.new_email).exclude(id=account.id).exists():
            return await refuse("EMAIL_TAKEN")
    now = rt.clock.now()
    async with in_transaction():
        claimed = await RecoveryRequest.filter(id=request.id, status=RecoveryStatus.AWAITING_APPROVAL).update(
            status=RecoveryStatus.SENT if approve else RecoveryStatus.REJECTED,
            decided_by_id=admin.id, decided_at=now, sent_at=now if approve else None,
        )
        if not claimed:
            return await refuse("ALREADY_DECIDED")
        if approve:
            assert request.new_email is not None
            token_id = await _issue_reset(rt, account, request.new_email)
            await RecoveryRequest.filter(id=request.id).update(reset_token_ref=str(token_id))
            request.reset_token_ref = str(token_id)
            if account.email:
                await enqueue(
                    rt,
                    template="email_change_pending",
                    to=account.email,
                    lang=account.preferred_language or "ru",
                    context={"full_name": account.full_name, "number": request.ticket_number,
                             "new_email_masked": mask_email(request.new_email),
                             "support_url": f"{rt.settings.public_url}/support"},
                )
        await record(
            rt,
            "recovery.email_change_approved" if approve else "recovery.email_change_rejected",
            actor_id=admin.id, subject_id=account.id, ticket_number=request.ticket_number, client=client,
            details={"recovery_id": str(request.id), "requested_by": str(request.requested_by_id)},  # type: ignore[attr-defined]
        )
    request.status = RecoveryStatus.SENT if approve else RecoveryStatus.REJECTED
    request.decided_by = admin
    request.decided_at = now
    return request


async def refuse_decision_by_role(
    rt: Runtime, request_id: UUID | None, approve: bool, *, staff: Account, client: ClientInfo
) -> Refused:
    """A caller without the ADMIN role tried to approve or reject (refused before the desk by the role guard):
    audited as `recovery.refused` with reason ADMIN_ONLY, like any other refused recovery step."""
    request = await RecoveryRequest.filter(id=request_id).first() if request_id is not None else None
    return await _refuse(
        rt, "ADMIN_ONLY", step="email_change_approval" if approve else "email_change_rejection", staff=staff,
        client=client, ticket_number=request.ticket_number if request else None,
        subject_id=request.account_id if request else None,  # type: ignore[attr-defined]
        recovery_id=request.id if request else None,
    )
