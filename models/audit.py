"""The append-only security log."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class AuditEvent(Model):
    # One security-relevant event: who did it (actor), to whom (subject), from where, when.
    # Rows are only ever inserted (and pruned after the retention period), never updated.
    id = fields.BigIntField(primary_key=True)
    occurred_at = fields.DatetimeField(db_index=True)
    action = fields.CharField(max_length=64, db_index=True)
    actor_id = fields.UUIDField(null=True, db_index=True)
    subject_id = fields.UUIDField(null=True, db_index=True)
    ticket_number = fields.CharField(max_length=32, null=True, db_index=True)
    client_address = fields.CharField(max_length=64, null=True)
    user_agent = fields.CharField(max_length=300, null=True)
    details: fields.Field[dict] = fields.JSONField(default=dict)  # type: ignore[type-arg]

    class Meta:
        table = "audit_events"
