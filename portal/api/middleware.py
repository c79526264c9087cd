"""The edge: the one middleware every HTTP request passes, in one pass with one wrapper around `send`.

For each request it
- refuses oversized headers (431) before anything reads them (api/security.py);
- adopts the caller's `X-Request-ID` when sane, or makes one, and returns it on the response (the one place
  that sets that header);
- puts the request id and the client address into the log context (core/logs.py);
- adds the security headers (api/security.py);
- answers an exception no route caught: 503 with `Retry-After` while the database is away, else a masked 500;
- counts the request by route template, method and status, and times it (core/metrics.py);
- writes the access line: JSON mode with the route template, text mode with the redacted request line
  (api/logs.py; `portal serve` turns uvicorn's own off, since it prints query strings).

`/graphql` is handed straight to its endpoint (behind `PORTAL_CORS_ORIGINS`' CORS when configured), and the
provider's partner paths to their CORS layer (api/partner_cors.py); every other path goes through
Starlette's router. Why one class and not a middleware per concern: each ASGI layer costs a coroutine and
a `send` wrapper per message on every request, and six of them were a sixth of an authenticated `me`'s CPU
(BENCHMARKS.md, issue 21). The policies stay in their own modules; this only applies them.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.api.http import client_address
from portal.api.logs import access_line
from portal.api.partner_cors import PARTNER_PATHS, PartnerCors
from portal.api.security import (
    SecurityHeaders,
    graphql_cors,
    headers_too_large,
    internal_error,
    oversized_headers,
    unavailable,
)
from portal.core import metrics
from portal.core.logs import accept_request_id, client_var, request_id_var
from portal.core.settings import Settings
from portal.models.availability import is_unavailable

access_log = logging.getLogger("portal.access")
log = logging.getLogger("portal.http")

UNMATCHED = "unmatched"  # the route label of a path no route took (404s): never the raw path
GRAPHQL_PATH = "/graphql"
_REQUEST_ID = b"x-request-id"


class Edge:
    """Every HTTP request's first and last stop (see above); `graphql` is the endpoint handed `/graphql`."""

    def __init__(self, app: ASGIApp, settings: Settings, graphql: ASGIApp | None = None) -> None:
        self.app = app
        self.settings = settings
        self.json_log = settings.log_format == "json"
        self.security_headers = SecurityHeaders(settings)
        partners = PartnerCors(app)
        self.direct: dict[str, tuple[ASGIApp, str | None]] = {path: (partners, None) for path in PARTNER_PATHS}
        if graphql is not None:
            cors = settings.cors_origin_list
            self.direct[GRAPHQL_PATH] = (graphql_cors(graphql, cors) if cors else graphql, GRAPHQL_PATH)
        self._counted: dict[tuple[str, str, int], Any] = {}  # prometheus children by labels: `labels()` locks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path = scope["path"]
        inner, route = self.direct.get(path) or (self.app, None)
        request_id = accept_request_id(_header(scope, _REQUEST_ID))
        id_token = request_id_var.set(request_id)
        client_token = client_var.set(client_address(HTTPConnection(scope), self.settings))
        scope.setdefault("state", {})["request_id"] = request_id
        answered = False
        status = 500  # what uvicorn answers when nothing was sent

        async def send_with_headers(message: Message) -> None:
            nonlocal answered, status
            if message["type"] == "http.response.start":
                answered, status = True, message["status"]
                headers = [(k, v) for k, v in message.get("headers") or () if k.lower() != _REQUEST_ID]
                headers.append((_REQUEST_ID, request_id.encode()))
                message["headers"] = self.security_headers.add_to(headers, path)
            await send(message)

        try:
            if oversized_headers(scope):
                await headers_too_large(request_id)(scope, receive, send_with_headers)
            else:
                await inner(scope, receive, send_with_headers)
        except Exception as exc:
            if answered:
                raise
            if is_unavailable(exc):
                log.warning("database unavailable (request %s): %s: %s", request_id, type(exc).__name__, exc)
                answer = unavailable(request_id, self.settings.unavailable_retry_after)
            else:
                log.exception("unhandled error (request %s)", request_id)
                answer = internal_error(request_id)
            await answer(scope, receive, send_with_headers)
        finally:
            elapsed = time.perf_counter() - started
            label = route or getattr(scope.get("route"), "path", None) or UNMATCHED  # Starlette's router sets it
            self._count(label, scope["method"], status, elapsed)
            self._log(scope, label, status, elapsed)
            request_id_var.reset(id_token)
            client_var.reset(client_token)

    def _count(self, route: str, method: str, status: int, elapsed: float) -> None:
        children = self._counted.get((route, method, status))
        if children is None:
            children = (metrics.REQUESTS.labels(route, method, str(status)), metrics.LATENCY.labels(route))
            if len(self._counted) < 10_000:  # bounded: routes are templates, but methods come from strangers
                self._counted[(route, method, status)] = children
        children[0].inc()
        children[1].observe(elapsed)

    def _log(self, scope: Scope, route: str, status: int, elapsed: float) -> None:
        if not access_log.isEnabledFor(logging.INFO):
            return
        if self.json_log:
            duration_ms = round(elapsed * 1000, 1)
            fields = {"method": scope["method"], "route": route, "status": status, "duration_ms": duration_ms}
            access_log.info("%s %s %s %.1f ms", scope["method"], route, status, duration_ms, extra=fields)
        else:
            line, args = access_line(scope, status, elapsed * 1000)
            access_log.info(line, *args)


def _header(scope: Scope, name: bytes) -> str | None:
    """One request header's value (the first), without building a `Headers` object."""
    for key, value in scope["headers"]:
        if key == name:  # ASGI servers lower-case header names
            return str(value.decode("latin-1"))
    return None
