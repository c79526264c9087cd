"""Support tickets from residents who cannot sign in: submission, numbering, access keys, status lookup.

A ticket is filed with or without signing in. Its number (`2026-000123`) comes from a per-year counter
bumped by one atomic upsert in the ticket's own transaction, so concurrent submissions never clash and a
rolled-back submission leaves no gap. The access key that opens the ticket's status page is returned once
and stored only as a keyed hash. Letters go through the outbox in the same transaction as the ticket.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from portal.core.client import ClientInfo
from portal.core.errors import FieldCode, FieldProblem, Invalid, TooMany
from portal.core.metrics import TICKETS_SUBMITTED
from portal.core.runtime import Runtime
from portal.core.throttle import Limit
from portal.core.tokens import new_token
from portal.identity.accounts import find_account
from portal.identity.identifiers import (
    EMAIL_MAX,
    has_control_characters,
    normalize_email,
    normalize_phone,
    parse_identifier,
)
from portal.mail.outbox import enqueue, enqueue_decoy
from portal.models.accounts import Account
from portal.models.audit import record, record_statement
from portal.models.batch import InsertRow, write_atomically
from portal.models.support import Ticket, TicketCategory, TicketEvent, TicketMessage, TicketStatus

FULL_NAME_MAX = 200
ADDRESS_MAX = 500
DESCRIPTION_MAX = 5000
ACCOUNT_IDENTIFIER_MAX = EMAIL_MAX
IDEMPOTENCY_KEY_MAX = 200
ACCESS_KEY_MAX = 128

# The version of the personal-data consent text the support form shows; stored with every ticket as the
# proof of what the resident agreed to (152-FZ). Bump it whenever the text on the form changes.
CONSENT_VERSION = "2026-11-pd-1"

KEY_PURPOSE = "ticket-key"
IDEMPOTENCY_PURPOSE = "ticket-idempotency"
CONTENT_PURPOSE = "ticket-content"
DERIVED_KEY_PURPOSE = "ticket-key-derivation"

NUMBER_RE = re.compile(r"^(\d{4})-(\d{6,})$")
_DESCRIPTION_CONTROL_RE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f\u2028\u2029]")  # every control but LF

# Anonymous submissions per client address, and signed-in ones per account (mail-bombing through
# `replyEmail` or the owner's notice). Only submissions that create a ticket count: a retry that returns
# an existing ticket is free, so twenty concurrent identical submissions cost one.
ANONYMOUS_LIMIT = Limit("ticket.submit.client", 10, 3600)
ACCOUNT_LIMIT = Limit("ticket.submit.account", 20, 3600)
# Letters per recipient: beyond these the ticket is still created, the letter is skipped.
CONFIRMATIONS_PER_ADDRESS = Limit("ticket.mail.confirmation", 10, 3600)
OWNER_NOTICES_PER_ACCOUNT = Limit("ticket.mail.owner_notice", 3, 24 * 3600)

_COUNTER_SQL = (
    "INSERT INTO support_ticket_counters (year, value) VALUES (%s, 1) "
    "ON CONFLICT (year) DO UPDATE SET value = support_ticket_counters.value + 1 RETURNING value"
)

# Compared against when the number is unknown, so a miss costs what a wrong key costs.
_DUMMY_HASH = "0" * 64


@dataclass(frozen=True)
class TicketForm:
    """What the resident typed into the support form, as received."""

    full_name: str
    registration_address: str
    phone: str
    account_identifier: str
    description: str
    personal_data_consent: bool
    category: TicketCategory = TicketCategory.ACCOUNT_ACCESS
    reply_email: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class CleanForm:
    """The form after validation and normalisation; its canonical form is what idempotency compares."""

    full_name: str
    registration_address: str
    phone: str
    account_identifier: str
    description: str
    category: TicketCategory
    reply_email: str | None
    idempotency_key: str | None

    def canonical(self, account_id: UUID | None) -> str:
        return json.dumps(
            [
                str(account_id) if account_id else None,
                self.full_name,
                self.registration_address,
                self.phone,
                self.account_identifier,
                self.reply_email,
                self.category.value,
                self.description,
            ],
            ensure_ascii=False,
            separators=(",", ":"),
        )


@dataclass(frozen=True)
class TicketView:
    """A ticket as its resident sees it: the row and the staff's public messages, oldest first."""

    ticket: Ticket
    messages: list[TicketMessage]


@dataclass(frozen=True)
class Submitted:
    """A ticket was filed (or, for a retry with the same idempotency key and content, found)."""

    view: TicketView
    access_key: str


SubmitOutcome = Submitted | Invalid | TooMany


class _Throttled(Exception):
    """Raised inside the transaction to roll the new ticket back when the submission limit is reached."""

    def __init__(self, too_many: TooMany) -> None:
        super().__init__("throttled")
        self.too_many = too_many


# --- validation -------------------------------------------------------------------------------------------


def _single_line(raw: str, field: str, maximum: int) -> str:
    """A one-line text (name, address): no control characters at all, whitespace collapsed, bounded."""
    if has_control_characters(raw):
        raise FieldProblem(field, FieldCode.INVALID_CHARACTERS)
    value = " ".join(raw.split())
    if not value:
        raise FieldProblem(field, FieldCode.REQUIRED)
    if len(value) > maximum:
        raise FieldProblem(field, FieldCode.TOO_LONG, max=maximum)
    return value


def _description(raw: str) -> str:
    """Free text: line breaks allowed (CRLF and CR become LF), every other control character refused."""
    value = raw.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not value:
        raise FieldProblem("description", FieldCode.REQUIRED)
    if _DESCRIPTION_CONTROL_RE.search(value):
        raise FieldProblem("description", FieldCode.INVALID_CHARACTERS)
    if len(value) > DESCRIPTION_MAX:
        raise FieldProblem("description", FieldCode.TOO_LONG, max=DESCRIPTION_MAX)
    return value


def _phone(raw: str, region: str) -> str:
    if has_control_characters(raw):  # checked first: the phone parser would read CR/LF as spaces
        raise FieldProblem("phone", FieldCode.INVALID_CHARACTERS)
    try:
        return normalize_phone(raw, region, "phone")
    except FieldProblem as problem:
        if problem.code == FieldCode.TOO_LONG:
            raise FieldProblem("phone", FieldCode.TOO_LONG, max=32) from None
        raise


def _reply_email(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    if has_control_characters(raw):  # before trimming: a trailing CRLF is an injection attempt, not a typo
        raise FieldProblem("replyEmail", FieldCode.INVALID_CHARACTERS)
    try:
        return normalize_email(raw, "replyEmail")
    except FieldProblem as problem:
        if problem.code == FieldCode.TOO_LONG:
            raise FieldProblem("replyEmail", FieldCode.TOO_LONG, max=EMAIL_MAX) from None
        raise


def _account_identifier(raw: str) -> str:
    if has_control_characters(raw):
        raise FieldProblem("accountIdentifier", FieldCode.INVALID_CHARACTERS)
    value = raw.strip()
    if not value:
        raise FieldProblem("accountIdentifier", FieldCode.REQUIRED)
    if len(value) > ACCOUNT_IDENTIFIER_MAX:
        raise FieldProblem("accountIdentifier", FieldCode.TOO_LONG, max=ACCOUNT_IDENTIFIER_MAX)
    return value


def _idempotency_key(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    if has_control_characters(raw):
        raise FieldProblem("idempotencyKey", FieldCode.INVALID_CHARACTERS)
    value = raw.strip()
    if len(value) > IDEMPOTENCY_KEY_MAX:
        raise FieldProblem("idempotencyKey", FieldCode.TOO_LONG, max=IDEMPOTENCY_KEY_MAX)
    return value


def validate(form: TicketForm, region: str) -> CleanForm | Invalid:
    """Every field checked, every problem reported at once under its GraphQL input name."""
    problems: list[FieldProblem] = []
    values: dict[str, object] = {}
    checks: list[tuple[str, Callable[[], object]]] = [
        ("full_name", lambda: _single_line(form.full_name, "fullName", FULL_NAME_MAX)),
        ("registration_address", lambda: _single_line(form.registration_address, "registrationAddress", ADDRESS_MAX)),
        ("phone", lambda: _phone(form.phone, region)),
        ("account_identifier", lambda: _account_identifier(form.account_identifier)),
        ("reply_email", lambda: _reply_email(form.reply_email)),
        ("description", lambda: _description(form.description)),
        ("idempotency_key", lambda: _idempotency_key(form.idempotency_key)),
    ]
    for name, check in checks:
        try:
            values[name] = check()
        except FieldProblem as problem:
            problems.append(problem)
    if form.personal_data_consent is not True:
        problems.append(FieldProblem("personalDataConsent", FieldCode.CONSENT_REQUIRED))
    if problems:
        return Invalid(problems)
    return CleanForm(category=TicketCategory(form.category), **values)  # type: ignore[arg-type]


# --- keys ---------------------------------------------------------------------------------------------------


def _derived_access_key(rt: Runtime, idempotency_hash: str, content_hash: str) -> str:
    """The access key of a ticket filed with an idempotency key.

    The key is stored only hashed, yet a retry must get the same key back. Rather than keep the key
    recoverable in the database, it is derived: HMAC(portal secret, idempotency hash + content hash). The
    same retry (same scope, key and content) recomputes it; a database dump holds neither the idempotency
    key (hashed too) nor the secret, so it yields no usable access key. It carries 256 bits like a random one.
    """
    message = f"{idempotency_hash}:{content_hash}".encode()
    mac = hmac.new(rt.tokens.key(DERIVED_KEY_PURPOSE), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _idempotency_hash(rt: Runtime, key: str, account_id: UUID | None) -> str:
    """Keys are scoped: a signed-in resident's keys never collide with anyone else's."""
    scope = f"account:{account_id}" if account_id else "anonymous"
    return rt.tokens.digest(IDEMPOTENCY_PURPOSE, f"{scope}\x00{key}")


def status_url(rt: Runtime, number: str, access_key: str) -> str:
    """The resident's status page link, always built from PORTAL_PUBLIC_URL."""
    return f"{rt.settings.public_url}/support/status?{urlencode({'number': number, 'key': access_key})}"


async def _next_number(conn: BaseDBAsyncClient, year: int) -> str:
    """One atomic upsert on the year's counter row (PostgreSQL and SQLite 3.35+): never MAX()+1.

    On PostgreSQL the row stays locked until the ticket's transaction ends, so numbers are handed out in
    commit order and a rolled-back submission gives its number back.
    """
    sql = _COUNTER_SQL.replace("%s", "$1" if conn.capabilities.dialect == "postgres" else "?")
    rows = await conn.execute_query_dict(sql, [year])  # execute_query drops RETURNING rows on asyncpg
    return f"{year:04d}-{int(rows[0]['value']):06d}"


# --- submission ---------------------------------------------------------------------------------------------


_CREATED_EVENT = InsertRow(TicketEvent, ("ticket_id", "from_status", "to_status", "actor_id", "occurred_at"))


async def submit_ticket(rt: Runtime, form: TicketForm, *, account: Account | None, client: ClientInfo) -> SubmitOutcome:
    """Files a ticket: validate, replay an idempotent retry, throttle, then one transaction with the letters.

    The confirmation goes to `replyEmail`, else to the signed-in account's address; with neither, no
    letter is sent and the resident keeps the number and access key from the answer.
    """
    clean = validate(form, rt.settings.default_region)
    if isinstance(clean, Invalid):
        return clean
    account_id = account.id if account else None
    content_hash = rt.tokens.digest(CONTENT_PURPOSE, clean.canonical(account_id))
    idempotency_hash = _idempotency_hash(rt, clean.idempotency_key, account_id) if clean.idempotency_key else None

    if idempotency_hash is not None:
        replay = await _replay(rt, idempotency_hash, content_hash)
        if replay is not None:
            return replay

    limit, throttle_key = (ACCOUNT_LIMIT, str(account_id)) if account_id else (ANONYMOUS_LIMIT, client.address)
    early = await rt.throttle.check(limit, throttle_key)  # cheap refusal before any write
    if early is not None:
        return early

    access_key = _derived_access_key(rt, idempotency_hash, content_hash) if idempotency_hash else new_token()
    owner = await _named_account(rt, clean.account_identifier)  # read before the counter row is locked
    now = rt.clock.now()
    try:
        async with in_transaction() as conn:
            number = await _next_number(conn, now.year)
            ticket = await Ticket.create(
                number=number,
                status=TicketStatus.NEW,
                category=clean.category,
                account_id=account_id,
                full_name=clean.full_name,
                registration_address=clean.registration_address,
                phone=clean.phone,
                account_identifier=clean.account_identifier,
                reply_email=clean.reply_email,
                description=clean.description,
                locale=client.locale,
                access_key_hash=rt.tokens.digest(KEY_PURPOSE, access_key),
                idempotency_hash=idempotency_hash,
                content_hash=content_hash,
                consent_given_at=now,
                consent_version=CONSENT_VERSION,
                client_address=client.address,
                user_agent=client.user_agent,
                created_at=now,
                updated_at=now,
            )
            # Counted only once the insert succeeded: a concurrent duplicate fails above and costs nothing.
            throttled = await rt.throttle.hit(limit, throttle_key)
            if throttled is not None:
                raise _Throttled(throttled)
            await _send_letters(rt, ticket, access_key, account, owner, client)
            # The first event and the audit record: one trip (models.batch), no model instances.
            event = _CREATED_EVENT.row(
                ticket_id=ticket.id, from_status=None, to_status=TicketStatus.NEW, actor_id=account_id, occurred_at=now
            )
            audit = record_statement(
                rt,
                "ticket.submitted",
                actor_id=account_id,
                subject_id=account_id,
                ticket_number=number,
                client=client,
                details={"category": clean.category.value},
            )
            await write_atomically([event, audit])
    except _Throttled as exc:
        return exc.too_many
    except IntegrityError:
        # A concurrent submission with the same idempotency key committed first: answer as its retry.
        if idempotency_hash is None:
            raise
        replay = await _replay(rt, idempotency_hash, content_hash)
        if replay is None:
            raise
        return replay
    TICKETS_SUBMITTED.inc()
    return Submitted(TicketView(ticket, []), access_key)


async def _replay(rt: Runtime, idempotency_hash: str, content_hash: str) -> Submitted | Invalid | None:
    """The ticket an earlier submission with this key created: the same answer, or a reused-key error."""
    ticket = await Ticket.get_or_none(idempotency_hash=idempotency_hash)
    if ticket is None:
        return None
    if not rt.tokens.equal(ticket.content_hash, content_hash):
        return Invalid.of(FieldProblem("idempotencyKey", FieldCode.IDEMPOTENCY_KEY_REUSED))
    access_key = _derived_access_key(rt, idempotency_hash, content_hash)
    messages = await TicketMessage.filter(ticket_id=ticket.id).order_by("created_at", "id")
    return Submitted(TicketView(ticket, list(messages)), access_key)


async def _send_letters(
    rt: Runtime, ticket: Ticket, access_key: str, account: Account | None, owner: Account | None, client: ClientInfo
) -> None:
    """The confirmation to the resident and the notice to the owner of the named account, via the outbox.

    Neither the answer nor the confirmation depends on whether `accountIdentifier` matched an account, and
    no letter repeats what the resident typed: `replyEmail` is unverified, so free text sent there would
    make the form a spam relay.
    """
    recipient = ticket.reply_email or (account.email if account else None)
    if recipient and await rt.throttle.hit(CONFIRMATIONS_PER_ADDRESS, recipient) is None:
        await enqueue(
            rt,
            template="ticket_submitted",
            to=recipient,
            lang=client.locale,
            context={
                "number": ticket.number,
                "status_url": status_url(rt, ticket.number, access_key),
                "category": ticket.category.value,
            },
            dedupe_key=f"ticket_submitted:{ticket.number}",
        )

    filed_by_owner = account is not None and owner is not None and owner.id == account.id
    if owner is not None and owner.email and owner.email != recipient and not filed_by_owner:
        if await rt.throttle.hit(OWNER_NOTICES_PER_ACCOUNT, str(owner.id)) is None:
            await enqueue(
                rt,
                template="ticket_owner_notice",
                to=owner.email,
                lang=owner.preferred_language or client.locale,
                context={"number": ticket.number, "support_url": f"{rt.settings.public_url}/support"},
                dedupe_key=f"ticket_owner_notice:{ticket.number}",
            )
            return
    # No notice (no match, no e-mail, the owner's own request, or capped): the same work, so the time
    # an answer takes tells nothing either.
    await enqueue_decoy(rt, template="ticket_owner_notice", context={"number": ticket.number})


async def _named_account(rt: Runtime, identifier: str) -> Account | None:
    try:
        parsed = parse_identifier(identifier, rt.settings.default_region, "accountIdentifier")
    except FieldProblem:
        return None  # not a well-formed login, e-mail or phone: it cannot name an account
    return await find_account(parsed)


# --- reading ------------------------------------------------------------------------------------------------


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
    messages = await TicketMessage.filter(ticket_id=ticket.id).order_by("created_at", "id")
    return TicketView(ticket, list(messages))


async def tickets_of(account_id: UUID) -> list[TicketView]:
    """The tickets a signed-in resident filed, newest first, each with its public messages."""
    tickets = await Ticket.filter(account_id=account_id).order_by("-created_at", "-id").prefetch_related("messages")
    return [
        TicketView(t, sorted(t.messages, key=lambda m: (m.created_at, m.id)))  # type: ignore[attr-defined]
        for t in tickets
    ]


# --- the staff desk's building blocks ----------------------------------------------------------------------


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
