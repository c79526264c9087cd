"""Reading, pruning and pseudonymising security events; they are written by `portal.models.audit.record`."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from tortoise.expressions import Q

from portal.core.runtime import Runtime
from portal.models.audit import AuditEvent
from portal.support.paging import Page, decode_cursor, encode_cursor, page_size

CURSOR_KIND = "audit"


async def recent_for_account(account_id: UUID, limit: int = 20) -> list[AuditEvent]:
    """A resident's own recent security events (for the account page)."""
    return await AuditEvent.filter(subject_id=account_id).order_by("-occurred_at", "-id").limit(limit)


async def prune(rt: Runtime, older_than_days: int | None = None) -> int:
    """Deletes events past the retention period (`PORTAL_AUDIT_RETENTION_DAYS`); returns how many."""
    days = older_than_days if older_than_days is not None else rt.settings.audit_retention_days
    cutoff = rt.clock.now() - timedelta(days=days)
    return await AuditEvent.filter(occurred_at__lt=cutoff).delete()


async def page_for_account(account_id: UUID | None, first: int | None, after: str | None) -> Page[AuditEvent]:
    """Events where the account is the subject or the actor (all events when None), newest first."""
    size = page_size(first)
    after_id = decode_cursor(CURSOR_KIND, after)
    query = AuditEvent.all()
    if account_id is not None:
        query = query.filter(Q(subject_id=account_id) | Q(actor_id=account_id))
    total = await query.count()
    if after_id is not None:
        query = query.filter(id__lt=after_id)
    rows = await query.order_by("-id").limit(size + 1)
    items = rows[:size]
    return Page(items, total, len(rows) > size, encode_cursor(CURSOR_KIND, items[-1].id) if items else None)


def pseudonym(rt: Runtime, account_id: UUID) -> UUID:
    """A stable stand-in for an erased account: events still group together, but name nobody."""
    return UUID(rt.tokens.digest("audit-pseudonym", str(account_id))[:32])


async def pseudonymise(rt: Runtime, account_id: UUID) -> int:
    """Replaces the account's id by its pseudonym and drops client addresses and browser strings."""
    alias = pseudonym(rt, account_id)
    changed = await AuditEvent.filter(subject_id=account_id).update(
        subject_id=alias, client_address=None, user_agent=None
    )
    changed += await AuditEvent.filter(actor_id=account_id).update(actor_id=alias, client_address=None, user_agent=None)
    return changed
