"""Housekeeping: the one place that deletes identity rows which stopped mattering, run about hourly.

`portal serve` (with PORTAL_DELIVER_MAIL_IN_PROCESS) and `portal worker` call `prune_expired` from the
background loop (api/background.py, mail/worker.py); several replicas running it at once only repeat a few
idempotent DELETEs. What is kept, and why:
- federation flows, mobile login codes and reset tokens (decoys too): a day past their expiry, for support
  questions; after expiry they only ever answer "invalid", with or without the row;
- portal sessions, revoked or not, with all their refresh tokens: a day past the session's absolute expiry.
  A spent refresh token must exist while its session could still be refreshed, or a replay would no longer
  be recognised as one (and revoke the family); after the absolute expiry nothing can refresh it;
- partner token families (grants with their refresh tokens): likewise, a day past the grant's absolute expiry;
- partner authorization codes: unused ones a day past their 60-second life; a used code until every grant it
  produced has expired (a second use of a code revokes those grants, found through the code's hash).
Audit events (`portal audit prune`, PORTAL_AUDIT_RETENTION_DAYS), consents and linked identities are not
touched here; the mail outbox is pruned by the delivery loop itself (mail.delivery.prune).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from tortoise.expressions import Q

from portal.core.runtime import Runtime
from portal.identity.reset import prune_reset_tokens
from portal.models.accounts import RefreshToken, Session
from portal.models.federation import FederationFlow, LoginCode
from portal.models.provider import AuthorizationCode, PartnerGrant, PartnerRefreshToken

log = logging.getLogger("portal.housekeeping")

KEEP_AFTER_EXPIRY = timedelta(days=1)
BATCH = 1000  # sessions or grants deleted per statement, so one run never holds a huge IN list or lock


async def _delete_parents(parent: Any, child: Any, link: str, **where: Any) -> tuple[int, int]:
    """Deletes matching parent rows in batches, their children first (no reliance on ON DELETE CASCADE)."""
    parents = children = 0
    while True:
        ids = list(await parent.filter(**where).limit(BATCH).values_list("id", flat=True))
        if not ids:
            return parents, children
        children += int(await child.filter(**{f"{link}__in": ids}).delete())
        parents += int(await parent.filter(id__in=ids).delete())
        if len(ids) < BATCH:
            return parents, children


async def prune_expired(rt: Runtime) -> dict[str, int]:
    """Deletes what no longer matters (see the module docstring); returns how many rows went, by kind."""
    now = rt.clock.now()
    cutoff = now - KEEP_AFTER_EXPIRY
    counts: dict[str, int] = {}
    counts["federation_flows"] = int(await FederationFlow.filter(expires_at__lt=cutoff).delete())
    counts["login_codes"] = int(await LoginCode.filter(expires_at__lt=cutoff).delete())
    counts["reset_tokens"] = await prune_reset_tokens(rt)
    counts["sessions"], counts["refresh_tokens"] = await _delete_parents(
        Session, RefreshToken, "session_id", expires_at__lt=cutoff
    )
    counts["partner_grants"], counts["partner_refresh_tokens"] = await _delete_parents(
        PartnerGrant, PartnerRefreshToken, "grant_id", expires_at__lt=cutoff
    )
    # A used code may still revoke its grants on a second use, until the longest a grant lives has passed.
    grants_outlived = now - timedelta(seconds=rt.settings.session_max_age) - KEEP_AFTER_EXPIRY
    counts["partner_codes"] = int(
        await AuthorizationCode.filter(
            Q(used_at__isnull=True, expires_at__lt=cutoff) | Q(used_at__lt=grants_outlived)
        ).delete()
    )
    if any(counts.values()):
        log.info("housekeeping removed %s", ", ".join(f"{k}={v}" for k, v in counts.items() if v))
    return counts
