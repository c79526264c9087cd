"""The security log as staff (ADMIN) read it."""

from __future__ import annotations

import json
from datetime import datetime

import strawberry

from portal.models.audit import AuditEvent as AuditEventModel
from portal.schema.staff.common import (
    PageInfo,
)
from portal.support.paging import Page


@strawberry.type
class AuditEvent:
    id: strawberry.ID
    occurred_at: datetime
    action: str
    actor_id: strawberry.ID | None
    subject_id: strawberry.ID | None
    ticket_number: str | None
    client_address: str | None
    details: str  # JSON

    @classmethod
    def from_model(cls, e: AuditEventModel) -> AuditEvent:
        return cls(
            id=strawberry.ID(str(e.id)),
            occurred_at=e.occurred_at,
            action=e.action,
            actor_id=strawberry.ID(str(e.actor_id)) if e.actor_id else None,
            subject_id=strawberry.ID(str(e.subject_id)) if e.subject_id else None,
            ticket_number=e.ticket_number,
            client_address=e.client_address,
            details=json.dumps(e.details or {}, ensure_ascii=False, default=str),
        )


@strawberry.type
class AuditEventConnection:
    nodes: list[AuditEvent]
    total_count: int
    page_info: PageInfo

    @classmethod
    def from_page(cls, page: Page[AuditEventModel]) -> AuditEventConnection:
        return cls(
            nodes=[AuditEvent.from_model(e) for e in page.items],
            total_count=page.total_count,
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
        )
