"""The delivery loop: run inside `portal serve` (PORTAL_DELIVER_MAIL_IN_PROCESS) or as `portal worker`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from portal.core.runtime import Runtime
from portal.mail.delivery import BATCH_SIZE, deliver_due, prune

log = logging.getLogger("portal.mail")

POLL_SECONDS = 1.0
HOUSEKEEPING_SECONDS = 3600.0  # pruning (the outbox, then the jobs passed in): about hourly, first at start

Job = Callable[[Runtime], Awaitable[object]]


async def run(
    rt: Runtime,
    stop: asyncio.Event,
    *,
    poll_seconds: float = POLL_SECONDS,
    housekeeping: Sequence[Job] = (),
    each_round: Sequence[Job] = (),
) -> None:
    """Delivers until `stop` is set; a failing round is logged and retried, never fatal.

    `each_round` are other queues drained beside the outbox (the partners' back-channel logouts).
    """
    jobs: list[Job] = [prune, *housekeeping]
    next_housekeeping = time.monotonic()
    while not stop.is_set():
        busy = False
        try:
            report = await deliver_due(rt)
            busy = report.claimed >= BATCH_SIZE
            for job in each_round:
                await job(rt)
            if time.monotonic() >= next_housekeeping:
                next_housekeeping = time.monotonic() + HOUSEKEEPING_SECONDS
                for job in jobs:
                    await job(rt)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the database may be briefly away; the loop must outlive it
            log.exception("mail delivery round failed; trying again shortly")
        if busy:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), poll_seconds)


@contextlib.asynccontextmanager
async def running(  # type: ignore[no-untyped-def]
    rt: Runtime, *, poll_seconds: float = POLL_SECONDS, housekeeping: Sequence[Job] = (), each_round: Sequence[Job] = ()
):
    """Runs the loop as a background task for the duration of the block (the app's lifespan, tests)."""
    stop = asyncio.Event()
    task = asyncio.create_task(
        run(rt, stop, poll_seconds=poll_seconds, housekeeping=housekeeping, each_round=each_round),
        name="mail-delivery",
    )
    try:
        yield task
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, timeout=35)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
