"""Filing a ticket: validate, replay an idempotent retry, throttle, then one transaction with the letters.

The ticket, its number, its first event, its audit record and its letters are written in one transaction,
so a rolled-back submission leaves neither a gap in the numbers nor a letter behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from tortoise import connections
from tortoise.exceptions import IntegrityError

from portal.core.client import ClientInfo
from portal.core.errors import FieldCode, FieldProblem, Invalid, TooMany
from portal.core.metrics import TICKETS_SUBMITTED
from portal.core.runtime import Runtime
from portal.core.throttle import Limit
from portal.core.tokens import new_token
from portal.identity.identifiers import Identifier, parse_identifier
from portal.models.accounts import Account
from portal.models.audit import record_statement
from portal.models.batch import InsertRow, Statement, hydrate, in_steps
from portal.models.support import Ticket, TicketEvent, TicketStatus
from portal.support.tickets import keys
from portal.support.tickets.letters import Owner, letter_statements
from portal.support.tickets.lookup import TicketView, view_of
from portal.support.tickets.numbers import numbered_insert
from portal.support.tickets.validation import TicketForm, validate

# The version of the personal-data consent text the support form shows; stored with every ticket as the
# proof of what the resident agreed to (152-FZ). Bump it whenever the text on the form changes.
CONSENT_VERSION = "2026-11-pd-1"

# Anonymous submissions per client address, and signed-in ones per account (mail-bombing through
# `replyEmail` or the owner's notice). Only submissions that create a ticket count: a retry that returns
# an existing ticket is free, so twenty concurrent identical submissions cost one.
ANONYMOUS_LIMIT = Limit("ticket.submit.client", 10, 3600)
ACCOUNT_LIMIT = Limit("ticket.submit.account", 20, 3600)


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


# Every column of a new ticket but its id and its number (`numbers.numbered_insert` adds the number).
_TICKET_ROW = InsertRow(Ticket, (
    "status", "category", "account_id", "full_name", "registration_address", "phone", "account_identifier",
    "reply_email", "personal_account_number", "description", "locale", "access_key_hash", "idempotency_hash",
    "content_hash", "consent_given_at", "consent_version", "client_address", "user_agent", "created_at", "updated_at",
))
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
    content_hash = rt.tokens.digest(keys.CONTENT_PURPOSE, clean.canonical(account_id))
    idempotency_hash = keys.idempotency_hash(rt, clean.idempotency_key, account_id) if clean.idempotency_key else None

    if idempotency_hash is not None:
        replay = await _replay(rt, idempotency_hash, content_hash)
        if replay is not None:
            return replay

    limit, throttle_key = (ACCOUNT_LIMIT, str(account_id)) if account_id else (ANONYMOUS_LIMIT, client.address)
    early = await rt.throttle.check(limit, throttle_key)  # cheap refusal before any write
    if early is not None:
        return early

    access_key = keys.derived_access_key(rt, idempotency_hash, content_hash) if idempotency_hash else new_token()
    named = named_identifier(rt, clean.account_identifier, form.reply_email, clean.reply_email)
    now = rt.clock.now()
    values = {
        "status": TicketStatus.NEW,
        "category": clean.category,
        "account_id": account_id,
        "full_name": clean.full_name,
        "registration_address": clean.registration_address,
        "phone": clean.phone,
        "account_identifier": clean.account_identifier,
        "reply_email": clean.reply_email,
        "personal_account_number": clean.personal_account_number,
        "description": clean.description,
        "locale": client.locale,
        "access_key_hash": rt.tokens.digest(keys.KEY_PURPOSE, access_key),
        "idempotency_hash": idempotency_hash,
        "content_hash": content_hash,
        "consent_given_at": now,
        "consent_version": CONSENT_VERSION,
        "client_address": client.address,
        "user_agent": client.user_agent,
        "created_at": now,
        "updated_at": now,
    }
    dialect = connections.get("default").capabilities.dialect
    try:
        # Two trips in one transaction (models.batch.in_steps; on SQLite the first carries BEGIN, the last
        # COMMIT): the number and the ticket; then, once the throttle has counted it, its first event, its
        # audit record and its letters. The letters need the number, so they cannot ride in the first.
        async with in_steps() as steps:
            ticket = numbered_insert(dialect, now.year, _TICKET_ROW.row(**values))
            [created] = await steps.write([*ticket, _created_with_owner(dialect, named)])
            ticket_id, number = int(created["id"]), str(created["number"])
            owner = _owner(created)
            # Counted only once the insert succeeded: a concurrent duplicate fails above and costs nothing.
            throttled = await rt.throttle.hit(limit, throttle_key)
            if throttled is not None:
                raise _Throttled(throttled)
            letters = await letter_statements(
                rt, number, clean.category, clean.reply_email, access_key, account, owner, client
            )
            event = _CREATED_EVENT.row(
                ticket_id=ticket_id, from_status=None, to_status=TicketStatus.NEW, actor_id=account_id, occurred_at=now
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
            await steps.finish([event, audit, *letters])
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
    # The row just written, as the ORM reads one back: `Ticket(**values)` would validate every field again (~30 µs).
    answered = hydrate(Ticket, {"id": ticket_id, "number": number, "assigned_to_id": None, **values})
    return Submitted(TicketView(answered, []), access_key)


async def _replay(rt: Runtime, idempotency_hash: str, content_hash: str) -> Submitted | Invalid | None:
    """The ticket an earlier submission with this key created: the same answer, or a reused-key error."""
    ticket = await Ticket.get_or_none(idempotency_hash=idempotency_hash)
    if ticket is None:
        return None
    if not rt.tokens.equal(ticket.content_hash, content_hash):
        return Invalid.of(FieldProblem("idempotencyKey", FieldCode.IDEMPOTENCY_KEY_REUSED))
    access_key = keys.derived_access_key(rt, idempotency_hash, content_hash)
    return Submitted(await view_of(ticket), access_key)


def _owner(row: dict[str, Any]) -> Owner | None:
    if row["owner_id"] is None:
        return None
    return Owner(UUID(str(row["owner_id"])), row["owner_email"], row["owner_language"])  # SQLite: the id as text


def named_identifier(rt: Runtime, identifier: str, typed_reply: str | None, reply_email: str | None) -> Identifier:
    """The account `accountIdentifier` names. Residents often type one address in both fields: then it is the
    reply address already normalised (the same `normalize_email` of the same trimmed text), not checked twice
    (an address costs ~60 µs to check)."""
    if reply_email is not None and typed_reply is not None and typed_reply.strip() == identifier and "@" in identifier:
        return Identifier("email", reply_email)
    try:
        return parse_identifier(identifier, rt.settings.default_region, "accountIdentifier")
    except FieldProblem:
        return _NOBODY  # not a well-formed login, e-mail or phone: it cannot name an account


_NOBODY = Identifier("email", "")  # no account has an empty e-mail: the same statement, no row
_CREATED_WITH_OWNER: dict[tuple[str, str], str] = {}


def _created_with_owner(dialect: str, named: Identifier) -> Statement:
    """The last statement of the ticket's first step: the new ticket's id and number, and the account the
    resident named (for the owner's notice), read in the same trip.

    PostgreSQL reads the ticket from the insert's RETURNING row (the step's CTE `s1`), SQLite the row just
    inserted. The account is read whatever its status, as `identity.accounts.find_account` reads it.
    """
    key = dialect, named.kind
    if key not in _CREATED_WITH_OWNER:
        accounts = Account._meta.db_table
        tickets = Ticket._meta.db_table
        created = "s1" if dialect == "postgres" else (
            f'(SELECT "id", "number" FROM "{tickets}" WHERE "id" = last_insert_rowid())'  # noqa: S608
        )
        # Names from the models' metadata and a fixed list of identifier kinds; the value is a parameter.
        _CREATED_WITH_OWNER[key] = (
            f'SELECT t."id", t."number", o."id" AS "owner_id", o."email" AS "owner_email", '  # noqa: S608
            f'o."preferred_language" AS "owner_language" FROM {created} AS t LEFT JOIN '
            f'(SELECT "id", "email", "preferred_language" FROM "{accounts}" WHERE "{named.kind}" = ?) AS o ON TRUE'
        )
    return Statement(_CREATED_WITH_OWNER[key], (named.value,))
