"""Support tickets: the ticket, its status history, staff messages, and the per-year number counter.

Model classes carry `#` comments, not docstrings: Tortoise copies a docstring into the table's SQL comment.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from portal.models.accounts import Account


class TicketCategory(StrEnum):
    ACCOUNT_ACCESS = "account_access"
    BILLING = "billing"
    MAINTENANCE = "maintenance"
    OTHER = "other"


class TicketStatus(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    WAITING_FOR_RESIDENT = "waiting_for_resident"
    RESOLVED = "resolved"
    REJECTED = "rejected"


class Ticket(Model):
    # A resident's request to support. What the resident typed is stored normalised (see support.tickets.validation);
    # the access key and the idempotency key are stored only as keyed hashes.
    id = fields.BigIntField(primary_key=True)
    number = fields.CharField(max_length=16, unique=True)  # "2026-000123", from TicketCounter
    status = fields.CharEnumField(TicketStatus, max_length=32, default=TicketStatus.NEW, db_index=True)
    category = fields.CharEnumField(TicketCategory, max_length=32, default=TicketCategory.ACCOUNT_ACCESS)
    # The signed-in account that filed it (None: filed without signing in).
    account: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="support_tickets", null=True, on_delete=fields.SET_NULL, db_index=True
    )
    # The staff member working on it (the staff desk sets it).
    assigned_to: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="assigned_tickets", null=True, on_delete=fields.SET_NULL, db_index=True
    )
    full_name = fields.CharField(max_length=200)
    registration_address = fields.CharField(max_length=500)
    phone = fields.CharField(max_length=20)  # E.164
    account_identifier = fields.CharField(max_length=254)  # as the resident remembers it, trimmed
    reply_email = fields.CharField(max_length=254, null=True)  # normalised; None: the account's own address
    personal_account_number = fields.CharField(max_length=32, null=True)  # лицевой счёт from the bill, if given
    description = fields.TextField()
    locale = fields.CharField(max_length=8, default="ru")
    access_key_hash = fields.CharField(max_length=64)
    idempotency_hash = fields.CharField(max_length=64, null=True, unique=True)
    content_hash = fields.CharField(max_length=64)
    # Proof of consent to personal-data processing (152-FZ): when, which text, from where.
    consent_given_at = fields.DatetimeField()
    consent_version = fields.CharField(max_length=32)
    client_address = fields.CharField(max_length=64, null=True)
    user_agent = fields.CharField(max_length=300, null=True)
    created_at = fields.DatetimeField(db_index=True)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "support_tickets"


class TicketEvent(Model):
    # One status change: from, to, who, when, and the message shown to the resident with it, if any.
    # Append-only; the creation of a ticket is the first event (from None to NEW).
    id = fields.BigIntField(primary_key=True)
    ticket: fields.ForeignKeyRelation[Ticket] = fields.ForeignKeyField(
        "models.Ticket", related_name="events", on_delete=fields.CASCADE, db_index=True
    )
    from_status = fields.CharEnumField(TicketStatus, max_length=32, null=True)
    to_status = fields.CharEnumField(TicketStatus, max_length=32)
    # None: the resident without an account, or the system.
    actor: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="ticket_events", null=True, on_delete=fields.SET_NULL, db_index=True
    )
    occurred_at = fields.DatetimeField(db_index=True)
    public_message = fields.TextField(null=True)

    class Meta:
        table = "support_ticket_events"


class TicketMessage(Model):
    # What staff wrote to the resident; every row here is shown on the ticket's status page.
    id = fields.BigIntField(primary_key=True)
    ticket: fields.ForeignKeyRelation[Ticket] = fields.ForeignKeyField(
        "models.Ticket", related_name="messages", on_delete=fields.CASCADE, db_index=True
    )
    author: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="ticket_messages", null=True, on_delete=fields.SET_NULL, db_index=True
    )
    body = fields.TextField()
    created_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "support_ticket_messages"


class TicketCounter(Model):
    # The last ticket number handed out in each year; bumped with one atomic upsert per ticket.
    year = fields.IntField(primary_key=True, generated=False)
    value = fields.BigIntField(default=0)

    class Meta:
        table = "support_ticket_counters"
