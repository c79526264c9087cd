"""Security headers on every response, CORS for `PORTAL_CORS_ORIGINS`, and a masked 500 as the last resort.

An exception that says the database is away is not a bug: it is answered 503 with `Retry-After`
(`unavailable`), counted, and logged as one line without a traceback.

Pure ASGI (no `BaseHTTPMiddleware`): it only rewrites the `http.response.start` message, so a request
costs one list concatenation. Headers a route already set (a page's own CSP or Referrer-Policy) win.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse

from portal.core.logs import current_request_id
from portal.core.metrics import DB_UNAVAILABLE
from portal.core.settings import Settings
from portal.models.availability import is_unavailable

log = logging.getLogger("portal.http")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# HTML: our own scripts and styles only (no inline script), never framed, no plugins, no <base> tricks.
HTML_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
# Anything else (JSON, text): nothing to load or run, and never framed.
OTHER_CSP = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=63072000; includeSubDomains"
# Pages whose URL carries a secret (reset token, ticket access key, an authorization code): no Referer at all.
TOKEN_PATHS = ("/reset-password", "/support/status", "/auth/federated/")


class SecurityHeaders:
    """Adds nosniff, framing refusal, Referrer-Policy, CSP and (in production) HSTS to every HTTP response."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.retry_after = settings.unavailable_retry_after
        common = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY")]
        if settings.production:
            common.append((b"strict-transport-security", HSTS.encode()))
        self.common = common
        self.names = {name for name, _ in common}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token_page = scope["path"].startswith(TOKEN_PATHS)
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = self._headers(list(message.get("headers") or []), token_page)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            if started:
                raise
            request_id = current_request_id() or uuid.uuid4().hex
            if is_unavailable(exc):
                log.warning("database unavailable (request %s): %s: %s", request_id, type(exc).__name__, exc)
                await unavailable(request_id, self.retry_after)(scope, receive, send_with_headers)
                return
            log.exception("unhandled error (request %s)", request_id)
            await _internal_error(request_id)(scope, receive, send_with_headers)

    def _headers(self, headers: list[tuple[bytes, bytes]], token_page: bool) -> list[tuple[bytes, bytes]]:
        present = {name.lower() for name, _ in headers}
        extra = [item for item in self.common if item[0] not in present] if present & self.names else self.common
        if b"referrer-policy" not in present:
            policy = b"no-referrer" if token_page else b"strict-origin-when-cross-origin"
            extra = [*extra, (b"referrer-policy", policy)]
        if b"content-security-policy" not in present:
            html = any(name.lower() == b"content-type" and value.startswith(b"text/html") for name, value in headers)
            extra = [*extra, (b"content-security-policy", (HTML_CSP if html else OTHER_CSP).encode())]
        return headers + extra


MAX_HEADER_BYTES = 8 * 1024  # one header, name and value
MAX_HEADERS_BYTES = 16 * 1024  # all of them


class HeaderLimit:
    """431 for a request whose headers are too large (a 1 MB `Authorization` is nobody's session), before
    any route hashes, parses or logs them: 8 KiB per header, 16 KiB in all (nginx's and Node's defaults)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            sizes = [len(name) + len(value) for name, value in scope.get("headers") or ()]
            if any(size > MAX_HEADER_BYTES for size in sizes) or sum(sizes) > MAX_HEADERS_BYTES:
                request_id = uuid.uuid4().hex
                message = f"Request headers are limited to {MAX_HEADER_BYTES} bytes each, {MAX_HEADERS_BYTES} in all."
                response = JSONResponse(
                    {
                        "errors": [
                            {"message": message, "extensions": {"code": "HEADERS_TOO_LARGE", "requestId": request_id}}
                        ],
                        "data": None,
                    },
                    status_code=431,
                    headers={"X-Request-Id": request_id, "Cache-Control": "no-store", "Connection": "close"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _internal_error(request_id: str) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": "Internal error", "extensions": {"code": "INTERNAL_ERROR", "requestId": request_id}}]},
        status_code=500,
        headers={"X-Request-Id": request_id, "Cache-Control": "no-store"},
    )


def unavailable(request_id: str, retry_after: int) -> JSONResponse:
    """The answer while the database is away: 503, Retry-After, the GraphQL error shape with a stable code."""
    DB_UNAVAILABLE.inc()
    message = "The service is temporarily unavailable; try again shortly."
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": "SERVICE_UNAVAILABLE", "requestId": request_id}}],
         "data": None},
        status_code=503,
        headers={"Retry-After": str(retry_after), "X-Request-Id": request_id, "Cache-Control": "no-store"},
    )


class GraphQLCors:
    """`PORTAL_CORS_ORIGINS` (credentialed, for the operator's own web clients) applies to `/graphql` only:
    the provider's endpoints have their own, credential-free CORS for partners (api/partner_cors.py)."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=[origin.rstrip("/") for origin in origins],
            allow_credentials=True,  # the session cookie; api/graphql.py checks Origin again
            allow_methods=["POST"],
            allow_headers=["Content-Type", "Authorization", "Accept-Language"],
            expose_headers=["X-Request-Id"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        inner = self.cors if scope["type"] == "http" and scope["path"] == "/graphql" else self.app
        await inner(scope, receive, send)


def security_middleware(settings: Settings) -> list[Middleware]:
    """Outermost first: the headers reach CORS preflights too; partners' CORS always, `/graphql`'s only when
    origins are configured."""
    from portal.api.partner_cors import PartnerCors  # it reads this module's ASGI types

    stack = [Middleware(SecurityHeaders, settings=settings), Middleware(HeaderLimit), Middleware(PartnerCors)]
    if settings.cors_origin_list:
        stack.append(Middleware(GraphQLCors, origins=settings.cors_origin_list))
    return stack
