"""The operator's view of a process: `/metrics`.

`metrics_server` serves Prometheus' text format on `PORTAL_METRICS_PORT` (never the public port), refreshing
the gauges read from the database first. The request id, the log context and the request metrics are the
edge middleware's (api/middleware.py).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.core import metrics
from portal.core.runtime import Runtime

log = logging.getLogger("portal.metrics")


async def refresh_database_gauges() -> None:
    """Tickets by status, outbox depth and oldest age, the connection pool: read at scrape time."""
    from tortoise.connection import get_connection
    from tortoise.functions import Count

    from portal.models.mail import OutboxMessage, OutboxStatus
    from portal.models.support import Ticket, TicketStatus

    counts = await Ticket.annotate(n=Count("id")).group_by("status").values_list("status", "n")
    seen = {str(getattr(status, "value", status)): int(n) for status, n in counts}
    for status in TicketStatus:
        metrics.TICKETS.labels(status.value).set(seen.get(status.value, 0))
    pending = OutboxMessage.filter(status=OutboxStatus.PENDING)
    metrics.OUTBOX_DEPTH.set(await pending.count())
    oldest = await pending.order_by("created_at").first().values_list("created_at", flat=True)
    age = (datetime.now(UTC) - oldest).total_seconds() if isinstance(oldest, datetime) else 0.0
    metrics.OUTBOX_OLDEST_AGE.set(max(0.0, age))
    pool = getattr(get_connection("default"), "_pool", None)
    if pool is not None:  # asyncpg: the pool's size and how much of it is borrowed
        size, idle = pool.get_size(), pool.get_idle_size()
        metrics.DB_POOL.labels("open").set(size)
        metrics.DB_POOL.labels("in_use").set(size - idle)
        metrics.DB_POOL.labels("max").set(pool.get_max_size())
    else:  # SQLite: one connection, always open
        metrics.DB_POOL.labels("open").set(1)
        metrics.DB_POOL.labels("max").set(1)


def metrics_app() -> Starlette:
    async def scrape(_: Request) -> Response:
        try:
            await refresh_database_gauges()
        except Exception:  # noqa: BLE001 - the database may be away: serve the counters anyway
            log.warning("metrics: database gauges not refreshed", exc_info=True)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/metrics", scrape, methods=["GET"])])


@contextlib.asynccontextmanager
async def metrics_server(rt: Runtime) -> AsyncIterator[None]:
    """Serves `/metrics` on PORTAL_METRICS_HOST:PORTAL_METRICS_PORT for the block's duration (if configured)."""
    port = rt.settings.metrics_port
    if port is None:
        yield
        return
    import asyncio

    import uvicorn

    class _SignalFreeServer(uvicorn.Server):
        """The main server (or `portal worker`) owns SIGTERM and SIGINT; this one stops when told."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    config = uvicorn.Config(
        metrics_app(),
        host=rt.settings.metrics_host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
    )
    server = _SignalFreeServer(config)
    task = asyncio.create_task(server.serve(), name="metrics-server")
    try:
        yield
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=5)
