"""The operator's view of a process: a request id on every response, request metrics, and `/metrics`.

`RequestObservability` is the outermost middleware: it adopts the caller's `X-Request-ID` (when sane)
or makes one, puts it and the client address into the log context, returns it on the response, and
counts the request by route template and status. `metrics_server` serves Prometheus' text format on
`PORTAL_METRICS_PORT` (never the public port), refreshing the gauges read from the database first.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.api.http import client_address
from portal.api.security import ASGIApp, Message, Receive, Scope, Send
from portal.core import metrics
from portal.core.logs import accept_request_id, client_var, request_id_var
from portal.core.runtime import Runtime
from portal.core.settings import Settings

log = logging.getLogger("portal.access")
UNMATCHED = "unmatched"  # the route label of a path no route took (404s): never the raw path


class RequestObservability:
    """Request id, log context, access log line and request metrics for every HTTP request."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.access_log = settings.log_format == "json"  # in text mode uvicorn's own access line does

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        request_id = accept_request_id(request.headers.get("x-request-id"))
        client = client_address(request, self.settings)
        id_token = request_id_var.set(request_id)
        client_token = client_var.set(client)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers") or [] if k.lower() != b"x-request-id"]
                message["headers"] = [*headers, (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            metrics.REQUESTS.labels(route, scope["method"], str(status)).inc()
            metrics.LATENCY.labels(route).observe(elapsed)
            duration_ms = round(elapsed * 1000, 1)
            fields = {"method": scope["method"], "route": route, "status": status, "duration_ms": duration_ms}
            if self.access_log:
                log.info("%s %s %s %.1f ms", scope["method"], route, status, duration_ms, extra=fields)
            request_id_var.reset(id_token)
            client_var.reset(client_token)


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
        metrics_app(), host=rt.settings.metrics_host, port=port, log_level="warning", access_log=False,
        lifespan="off", server_header=False,
    )
    server = _SignalFreeServer(config)
    task = asyncio.create_task(server.serve(), name="metrics-server")
    try:
        yield
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=5)
