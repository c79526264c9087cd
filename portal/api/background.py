"""Background work shared by `portal serve` (in-process) and `portal worker`: mail delivery and pruning."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

from portal.api import db
from portal.api.observability import metrics_server
from portal.core.runtime import Runtime
from portal.identity.housekeeping import prune_expired
from portal.identity.provider.notices import deliver_partner_notices, prune_partner_notices
from portal.mail import worker
from portal.models.changes import SessionChangeFeed
from portal.models.postgres import is_postgres

log = logging.getLogger("portal.worker")

# Run about hourly beside delivery (mail.worker.HOUSEKEEPING_SECONDS); the outbox is pruned by the loop itself.
HOUSEKEEPING: tuple[worker.Job, ...] = (prune_expired, prune_partner_notices)
# Other table-backed queues drained on every round, beside the outbox.
EACH_ROUND: tuple[worker.Job, ...] = (deliver_partner_notices,)


@contextlib.asynccontextmanager
async def in_process_delivery(rt: Runtime) -> AsyncIterator[None]:
    """Runs the delivery loop beside the app when PORTAL_DELIVER_MAIL_IN_PROCESS is true (the default)."""
    if not rt.settings.deliver_mail_in_process:
        yield
        return
    async with worker.running(rt, housekeeping=HOUSEKEEPING, each_round=EACH_ROUND):
        yield


@contextlib.asynccontextmanager
async def session_change_feed(rt: Runtime) -> AsyncIterator[None]:
    """On PostgreSQL, listens for session and account changes so the session cache may serve (models/changes.py)."""
    if not (rt.settings.session_cache and is_postgres(rt.settings.database_url)):
        yield
        return
    task = asyncio.create_task(SessionChangeFeed(rt.settings.database_url, rt.session_cache).run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def run_worker(rt: Runtime, *, poll_seconds: float = worker.POLL_SECONDS) -> None:
    """`portal worker`: delivers until SIGTERM or SIGINT, then finishes the round in hand and exits."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await db.connect(rt.settings)
    where = "SMTP" if rt.settings.smtp_url else f"files in {rt.settings.data_dir / 'mail'}"
    log.info("mail worker started (%s)", where)
    try:
        async with metrics_server(rt):  # the outbox gauges, from where the letters leave
            await worker.run(rt, stop, poll_seconds=poll_seconds, housekeeping=HOUSEKEEPING, each_round=EACH_ROUND)
    finally:
        await db.disconnect()
        log.info("mail worker stopped")
