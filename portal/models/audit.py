"""The append-only security log and its one writer (`record`, or `record_statement` inside a caller's batch)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from tortoise import fields
from tortoise.models import Model

from portal.core.client import ClientInfo
from portal.core.runtime import Runtime
from portal.models.batch import InsertRow, Statement, written_alone


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


_AUDIT_ROW = InsertRow(
    AuditEvent,
    ("occurred_at", "action", "actor_id", "subject_id", "ticket_number", "client_address", "user_agent", "details"),
)


def record_statement(
    rt: Runtime,
    action: str,
    *,
    actor_id: UUID | None = None,
    subject_id: UUID | None = None,
    client: ClientInfo | None = None,
    ticket_number: str | None = None,
    details: dict[str, Any] | None = None,
) -> Statement:
    """One event, as a statement for `models.batch.write_atomically` (with the caller's other writes).

    `action` is a dotted name, e.g. `signin.success`, `password.reset`, `ticket.assigned`.
    """
    return _AUDIT_ROW.row(
        occurred_at=rt.clock.now(),
        action=action,
        actor_id=actor_id,
        subject_id=subject_id,
        ticket_number=ticket_number,
        client_address=client.address if client else None,
        user_agent=client.user_agent if client else None,
        details=details or {},
    )


# Appends one event at once, with `record_statement`'s arguments.
record = written_alone(record_statement)
