"""Back-channel logout through a table-backed queue: written with the revocation, sent after commit, retried.

`revoke_partner_tokens` writes one `PartnerNotice` per partner with a back-channel URI, in the caller's
transaction: a rolled-back revocation tells nobody, a committed one is never forgotten (a replica that
dies right after the commit leaves the notice to any other process). The delivery loop of `portal serve`
or `portal worker` sends due notices every round (claimed under a short lease, so several processes may
run it), signing each logout token at sending time; a failed attempt is retried after 30 s, 1, 2, 4 …
minutes, and after a day the notice is given up and logged.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

import httpx
from tortoise.expressions import F, Q

from portal.core.runtime import Runtime
from portal.identity.provider.keys import keyring_for
from portal.models.provider import PartnerNotice

log = logging.getLogger("portal.oidc")

BATCH = 20
LEASE_SECONDS = 60  # a batch posts at most BATCH notices at 5 s each… in the worst case; renewed per row
TIMEOUT_SECONDS = 5.0
RETRY_BASE_SECONDS = 30
RETRY_MAX_SECONDS = 3600
GIVE_UP_AFTER_SECONDS = 24 * 3600
KEEP_SETTLED_DAYS = 30


async def enqueue_notices(rt: Runtime, client_subjects: dict[str, str]) -> None:
    """One pending notice per partner (client id -> pairwise sub), in the caller's transaction."""
    now = rt.clock.now()
    for client_id, subject in client_subjects.items():
        await PartnerNotice.create(client_id=client_id, subject=subject, created_at=now, next_attempt_at=now)


def _due(now: object) -> Q:
    return Q(sent_at__isnull=True, failed_at__isnull=True, next_attempt_at__lte=now) & (
        Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)
    )


async def deliver_partner_notices(rt: Runtime) -> int:
    """One round: claims due notices, posts each logout token, settles each row; returns how many were sent."""
    from portal.identity.provider.partners import logout_token_for

    now = rt.clock.now()
    ids = await PartnerNotice.filter(_due(now)).order_by("id").limit(BATCH).values_list("id", flat=True)
    if not ids:
        return 0
    token = secrets.token_hex(16)
    # The due condition again: on PostgreSQL a row another process claimed meanwhile fails it and is skipped.
    await PartnerNotice.filter(_due(now), id__in=list(ids)).update(
        claimed_until=now + timedelta(seconds=LEASE_SECONDS), claim_token=token, attempts=F("attempts") + 1
    )
    rows = await PartnerNotice.filter(claim_token=token).select_related("client").order_by("id")
    if not rows:
        return 0
    await keyring_for(rt).load(rt)
    sent = 0
    async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False) as http:
        for row in rows:
            renewed = await PartnerNotice.filter(id=row.id, claim_token=token).update(
                claimed_until=rt.clock.now() + timedelta(seconds=LEASE_SECONDS)
            )
            if not renewed:
                continue  # our lease ran out and another process took it: it is theirs now
            uri = row.client.backchannel_logout_uri
            error: str | None = "the partner no longer has a back-channel logout URI"
            if uri:
                try:
                    logout = logout_token_for(rt, row.client_id, row.subject)
                    response = await http.post(uri, data={"logout_token": logout})
                    error = None if response.status_code < 400 else f"answered HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
            sent += await _settle(rt, row, token, error)
    return sent


async def _settle(rt: Runtime, row: PartnerNotice, token: str, error: str | None) -> int:
    now = rt.clock.now()
    mine = PartnerNotice.filter(id=row.id, claim_token=token)
    if error is None:
        await mine.update(sent_at=now, claimed_until=None, claim_token=None, last_error=None)
        return 1
    if (now - row.created_at).total_seconds() >= GIVE_UP_AFTER_SECONDS:
        log.error("back-channel logout to %s given up after %d attempts: %s", row.client_id, row.attempts, error)
        await mine.update(failed_at=now, claimed_until=None, claim_token=None, last_error=error[:500])
        return 0
    delay = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** max(0, row.attempts - 1))
    log.warning("back-channel logout to %s failed (attempt %d), retrying in %d s: %s",
                row.client_id, row.attempts, delay, error)
    await mine.update(
        next_attempt_at=now + timedelta(seconds=delay), claimed_until=None, claim_token=None, last_error=error[:500]
    )
    return 0


async def prune_partner_notices(rt: Runtime) -> int:
    """Sent and given-up notices go after `KEEP_SETTLED_DAYS` (housekeeping)."""
    cutoff = rt.clock.now() - timedelta(days=KEEP_SETTLED_DAYS)
    sent = await PartnerNotice.filter(sent_at__lt=cutoff).delete()
    failed = await PartnerNotice.filter(failed_at__lt=cutoff).delete()
    return int(sent) + int(failed)
