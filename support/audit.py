"""Recording security events: one append-only table, written in the caller's transaction."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from api.runtime import Runtime
from identity.client import ClientInfo
from models.audit import AuditEvent


async def record(
    rt: Runtime,
    action: str,
    *,
    actor_id: UUID | None = None,
    subject_id: UUID | None = None,
    client: ClientInfo | None = None,
    ticket_number: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Appends one event. `action` is a dotted name, e.g. `signin.success`, `password.reset`, `ticket.assigned`."""
    return await AuditEvent.create(
        occurred_at=rt.clock.now(),
        action=action,
        actor_id=actor_id,
        subject_id=subject_id,
        ticket_number=ticket_number,
        client_address=client.address if client else None,
        user_agent=client.user_agent if client else None,
        details=details or {},
    )


async def recent_for_account(account_id: UUID, limit: int = 20) -> list[AuditEvent]:
    """A resident's own recent security events (for the account page)."""
    return await AuditEvent.filter(subject_id=account_id).order_by("-occurred_at", "-id").limit(limit)
