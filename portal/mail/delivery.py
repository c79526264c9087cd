"""Delivering the outbox: claim due rows under a lease, render, send, and retry with backoff.

Several workers may run at once. On PostgreSQL a worker picks rows with `SELECT … FOR UPDATE SKIP LOCKED`
and marks them with its claim token and a lease (`claimed_until`) in one short transaction; on SQLite the
claim is one conditional UPDATE. Either way a row is delivered by whoever holds a live lease, and a
crashed worker's rows become due again when its lease runs out. A batch may outlive its lease (a slow
mail server): each row's lease is renewed, under the claim token, just before that row is sent, so a
row another worker has taken over meanwhile is left to it and never sent twice.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from tortoise.connection import get_connection
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from portal.core.metrics import MAIL_DELIVERED
from portal.core.runtime import Runtime
from portal.mail.outbox import unseal
from portal.mail.render import envelope_sender, message_id, render
from portal.mail.transport import PermanentFailure, Transport, transport_for
from portal.models.mail import OutboxMessage, OutboxStatus

log = logging.getLogger("portal.mail")

BATCH_SIZE = 50
LEASE_SECONDS = 120  # the default of PORTAL_MAIL_LEASE_SECONDS; renewed per row before sending
RETRY_BASE_SECONDS = 30  # 30 s, 1 min, 2 min, … doubling
RETRY_MAX_SECONDS = 3600
GIVE_UP_AFTER_SECONDS = 24 * 3600  # then the letter is marked failed and logged
KEEP_FINISHED_DAYS = 30
KEEP_DECOYS_SECONDS = 3600
MESSAGE_ID_PURPOSE = "mail-message-id"


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    expired: int = 0
    lost: int = 0  # rows whose lease ran out and another worker took over before we reached them


def retry_delay(attempts: int) -> int:
    """Seconds before the next try after `attempts` tries: exponential, capped."""
    return int(min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1)))


def _on_postgres() -> bool:
    return get_connection("default").capabilities.dialect == "postgres"


def _due(now: object) -> Q:
    return Q(status=OutboxStatus.PENDING, next_attempt_at__lte=now) & (
        Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)
    )


async def claim(rt: Runtime, limit: int = BATCH_SIZE) -> tuple[str, list[OutboxMessage]]:
    """Takes up to `limit` due rows under a fresh lease; returns the claim token and the rows."""
    now = rt.clock.now()
    token = secrets.token_hex(16)
    lease = now + timedelta(seconds=rt.settings.mail_lease_seconds)
    changes = {"claimed_until": lease, "claim_token": token, "attempts": F("attempts") + 1}
    if _on_postgres():
        async with in_transaction():
            picked = (
                await OutboxMessage.filter(_due(now))
                .order_by("next_attempt_at", "id")
                .limit(limit)
                .select_for_update(skip_locked=True)
                .only("id")
            )
            if picked:
                await OutboxMessage.filter(id__in=[row.id for row in picked]).update(**changes)
    else:
        ids = await OutboxMessage.filter(_due(now)).order_by("next_attempt_at", "id").limit(limit).values_list(
            "id", flat=True
        )
        if ids:
            # The due condition again: a row another worker claimed meanwhile is not taken twice.
            await OutboxMessage.filter(_due(now), id__in=list(ids)).update(**changes)
    rows = await OutboxMessage.filter(claim_token=token, status=OutboxStatus.PENDING).order_by("id")
    return token, rows


async def _renew(rt: Runtime, row: OutboxMessage, token: str) -> bool:
    """A fresh lease on this one row, if it is still ours; False when another worker has taken it over."""
    lease = rt.clock.now() + timedelta(seconds=rt.settings.mail_lease_seconds)
    renewed = await OutboxMessage.filter(id=row.id, claim_token=token, status=OutboxStatus.PENDING).update(
        claimed_until=lease
    )
    return bool(renewed)


async def _finish(rt: Runtime, row: OutboxMessage, token: str, status: OutboxStatus, error: str | None = None) -> None:
    await OutboxMessage.filter(id=row.id, claim_token=token).update(
        status=status,
        payload=None,  # the sealed context (with any link) is erased once the letter's fate is settled
        finished_at=rt.clock.now(),
        claimed_until=None,
        claim_token=None,
        last_error=error[:500] if error else None,
    )


async def _retry_or_fail(rt: Runtime, row: OutboxMessage, token: str, error: str, report: DeliveryReport) -> None:
    now = rt.clock.now()
    if (now - row.created_at).total_seconds() >= GIVE_UP_AFTER_SECONDS:
        log.error("mail %s to %s failed for good after %d attempts: %s", row.id, row.to_address, row.attempts, error)
        await _finish(rt, row, token, OutboxStatus.FAILED, error)
        report.failed += 1
        return
    delay = retry_delay(row.attempts)
    log.warning("mail %s to %s not delivered (attempt %d), retrying in %d s: %s",
                row.id, row.to_address, row.attempts, delay, error)
    await OutboxMessage.filter(id=row.id, claim_token=token).update(
        next_attempt_at=now + timedelta(seconds=delay), claimed_until=None, claim_token=None, last_error=error[:500]
    )
    report.retrying += 1


async def deliver_due(
    rt: Runtime, *, transport: Transport | None = None, limit: int = BATCH_SIZE
) -> DeliveryReport:
    """One round: claims what is due, sends it over one connection, settles every row. Safe to run anywhere."""
    report = DeliveryReport()
    token, rows = await claim(rt, limit)
    report.claimed = len(rows)
    if not rows:
        return report
    settings = rt.settings
    transport = transport or transport_for(settings)
    sender = envelope_sender(settings)
    id_key = rt.tokens.key(MESSAGE_ID_PURPOSE)
    opened = False
    down: str | None = None  # the server could not be reached: the rest of the batch waits for the next try
    try:
        for row in rows:
            if not await _renew(rt, row, token):
                log.warning("mail %s: lease lost to another worker, left to it", row.id)
                report.lost += 1
                continue
            now = rt.clock.now()
            if row.expires_at is not None and row.expires_at <= now:
                await _finish(rt, row, token, OutboxStatus.EXPIRED, "expired before it could be sent")
                report.expired += 1
                continue
            try:
                context = unseal(rt, row.payload or "", to=row.to_address)
                message = render(
                    settings, template=row.template, to=row.to_address, lang=row.lang, context=context,
                    msg_id=message_id(settings, row.id, id_key), now=now,
                )
            except Exception as exc:  # noqa: BLE001 - a letter that cannot be built is a bug: give up loudly
                log.exception("mail %s (%s) cannot be rendered", row.id, row.template)
                await _finish(rt, row, token, OutboxStatus.FAILED, f"render: {exc}")
                report.failed += 1
                continue
            if down is None and not opened:
                try:
                    await transport.open()
                    opened = True
                except Exception as exc:  # noqa: BLE001 - unreachable, refused, TLS trouble: all transient
                    down = f"{type(exc).__name__}: {exc}"
            if down is not None:
                await _retry_or_fail(rt, row, token, down, report)
                continue
            try:
                await transport.send(message, sender, row.to_address)
            except PermanentFailure as exc:
                log.error("mail %s to %s refused for good: %s", row.id, row.to_address, exc)
                await _finish(rt, row, token, OutboxStatus.FAILED, str(exc))
                report.failed += 1
            except Exception as exc:  # noqa: BLE001 - any transport trouble is worth another try later
                await _retry_or_fail(rt, row, token, f"{type(exc).__name__}: {exc}", report)
                await _close_quietly(transport)
                opened = False
            else:
                await _finish(rt, row, token, OutboxStatus.SENT)
                MAIL_DELIVERED.labels("sent").inc()
                report.sent += 1
    finally:
        if opened:
            await _close_quietly(transport)
    return report


async def _close_quietly(transport: Transport) -> None:
    try:
        await transport.close()
    except Exception:  # noqa: BLE001 - closing a broken connection may fail too
        log.debug("closing the mail transport failed", exc_info=True)


async def prune(rt: Runtime) -> int:
    """Deletes settled rows after `KEEP_FINISHED_DAYS` and decoys after an hour."""
    now = rt.clock.now()
    settled = await OutboxMessage.filter(
        status__in=[OutboxStatus.SENT, OutboxStatus.FAILED, OutboxStatus.EXPIRED],
        finished_at__lt=now - timedelta(days=KEEP_FINISHED_DAYS),
    ).delete()
    decoys = await OutboxMessage.filter(
        status=OutboxStatus.DISCARDED, created_at__lt=now - timedelta(seconds=KEEP_DECOYS_SECONDS)
    ).delete()
    return int(settled) + int(decoys)
