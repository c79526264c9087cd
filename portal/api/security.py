"""The security policy at the edge: the headers on every response, the limit on request headers, CORS for
`PORTAL_CORS_ORIGINS`, and the answers of last resort (a masked 500; 503 while the database is away).

The edge middleware (api/middleware.py) applies them in its one pass over each request: the headers only
rewrite the `http.response.start` message, and headers a route already set (a page's own CSP or
Referrer-Policy) win.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse

from portal.core.metrics import DB_UNAVAILABLE
from portal.core.settings import Settings

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
    """The headers every HTTP response carries: nosniff, framing refusal, Referrer-Policy, CSP and (in production)
    HSTS. Applied by the edge middleware (api/middleware.py) to the `http.response.start` message."""

    def __init__(self, settings: Settings) -> None:
        common = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY")]
        if settings.production:
            common.append((b"strict-transport-security", HSTS.encode()))
        self.common = common
        self.names = {name for name, _ in common}

    def add_to(self, headers: list[tuple[bytes, bytes]], path: str) -> list[tuple[bytes, bytes]]:
        present = {name.lower() for name, _ in headers}
        extra = [item for item in self.common if item[0] not in present] if present & self.names else self.common
        if b"referrer-policy" not in present:
            policy = b"no-referrer" if path.startswith(TOKEN_PATHS) else b"strict-origin-when-cross-origin"
            extra = [*extra, (b"referrer-policy", policy)]
        if b"content-security-policy" not in present:
            html = any(name.lower() == b"content-type" and value.startswith(b"text/html") for name, value in headers)
            extra = [*extra, (b"content-security-policy", (HTML_CSP if html else OTHER_CSP).encode())]
        return headers + extra


MAX_HEADER_BYTES = 8 * 1024  # one header, name and value
MAX_HEADERS_BYTES = 16 * 1024  # all of them


def oversized_headers(scope: Scope) -> bool:
    """A request whose headers are too large (a 1 MB `Authorization` is nobody's session) is refused before any
    route hashes, parses or logs them: 8 KiB per header, 16 KiB in all (nginx's and Node's defaults)."""
    sizes = [len(name) + len(value) for name, value in scope.get("headers") or ()]
    return any(size > MAX_HEADER_BYTES for size in sizes) or sum(sizes) > MAX_HEADERS_BYTES


def headers_too_large(request_id: str) -> JSONResponse:
    message = f"Request headers are limited to {MAX_HEADER_BYTES} bytes each, {MAX_HEADERS_BYTES} in all."
    return JSONResponse(
        {
            "errors": [{"message": message, "extensions": {"code": "HEADERS_TOO_LARGE", "requestId": request_id}}],
            "data": None,
        },
        status_code=431,
        headers={"Cache-Control": "no-store", "Connection": "close"},
    )


def internal_error(request_id: str) -> JSONResponse:
    """The last resort: 500 with the request id, never a stack trace (the log has it)."""
    return JSONResponse(
        {"errors": [{"message": "Internal error", "extensions": {"code": "INTERNAL_ERROR", "requestId": request_id}}]},
        status_code=500,
        headers={"Cache-Control": "no-store"},
    )


def unavailable(request_id: str, retry_after: int) -> JSONResponse:
    """The answer while the database is away: 503, Retry-After, the GraphQL error shape with a stable code."""
    DB_UNAVAILABLE.inc()
    message = "The service is temporarily unavailable; try again shortly."
    return JSONResponse(
        {
            "errors": [{"message": message, "extensions": {"code": "SERVICE_UNAVAILABLE", "requestId": request_id}}],
            "data": None,
        },
        status_code=503,
        headers={"Retry-After": str(retry_after), "Cache-Control": "no-store"},
    )


def graphql_cors(app: ASGIApp, origins: list[str]) -> ASGIApp:
    """`PORTAL_CORS_ORIGINS` (credentialed, for the operator's own web clients), wrapped around `/graphql` only:
    the provider's endpoints have their own, credential-free CORS for partners (api/partner_cors.py)."""
    return CORSMiddleware(
        app,
        allow_origins=[origin.rstrip("/") for origin in origins],
        allow_credentials=True,  # the session cookie; api/graphql.py checks Origin again
        allow_methods=["POST"],
        allow_headers=["Content-Type", "Authorization", "Accept-Language"],
        expose_headers=["X-Request-Id"],
        max_age=600,
    )
