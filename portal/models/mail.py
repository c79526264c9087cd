"""The mail outbox: one row per letter, written in the transaction of the change that caused it.

Model classes carry `#` comments, not docstrings: Tortoise copies a docstring into the table's SQL comment.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class OutboxStatus(StrEnum):
    PENDING = "pending"  # waiting for (another) delivery attempt
    SENT = "sent"  # accepted by the mail server
    FAILED = "failed"  # gave up after retrying for a bounded time
    EXPIRED = "expired"  # its content (e.g. a reset link) expired before it could be sent
    DISCARDED = "discarded"  # a decoy written so every request does the same work; never sent


class OutboxMessage(Model):
    # A letter waiting to be sent, or the record of one sent. `payload` holds the template context
    # sealed with AES-GCM (it may carry a reset link) and is cleared once the letter is sent or given up.
    # A worker claims a row by setting `claimed_until` (a lease); a crashed worker's lease simply runs out.
    id = fields.BigIntField(primary_key=True)
    template = fields.CharField(max_length=64)
    to_address = fields.CharField(max_length=254)
    lang = fields.CharField(max_length=8)
    payload = fields.TextField(null=True)
    status = fields.CharEnumField(OutboxStatus, max_length=16, default=OutboxStatus.PENDING)
    dedupe_key = fields.CharField(max_length=128, null=True, unique=True)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(null=True)
    next_attempt_at = fields.DatetimeField()
    attempts = fields.IntField(default=0)
    claimed_until = fields.DatetimeField(null=True)
    claim_token = fields.CharField(max_length=32, null=True, db_index=True)
    finished_at = fields.DatetimeField(null=True)
    last_error = fields.CharField(max_length=500, null=True)

    class Meta:
        table = "mail_outbox"
        indexes = (("status", "next_attempt_at"),)
