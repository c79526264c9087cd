"""CORS for browser-based (SPA) partners on the provider's endpoints, never with credentials, never for /graphql.

A public client's page on its own origin reads discovery and JWKS, trades its code, refreshes, reads userinfo
and revokes; the browser lets it read the answers only when we name its origin. The allowed origins are those
of public clients' redirect URIs and their `--allowed-origin`s (identity.provider.partners.browser_origins).
No `Access-Control-Allow-Credentials`: these endpoints never read the session cookie, and a partner's page
must never ride the resident's portal session. Pure ASGI; only requests carrying an `Origin` pay the lookup.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import Response

from portal.api.security import ASGIApp, Message, Receive, Scope, Send
from portal.identity.provider.partners import browser_origins

# Path → the methods a partner's page may use there.
PARTNER_PATHS = {
    "/.well-known/openid-configuration": ("GET",),
    "/oauth/jwks": ("GET",),
    "/oauth/token": ("POST",),
    "/oauth/userinfo": ("GET", "POST"),
    "/oauth/revoke": ("POST",),
}
ALLOWED_HEADERS = "Authorization, Content-Type, Accept-Language"
MAX_AGE = "600"
_CORS_NAMES = {b"access-control-allow-origin", b"access-control-allow-credentials", b"access-control-expose-headers"}


class PartnerCors:
    """Answers preflights and names the origin on answers to an allowed SPA; others get no CORS headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        methods = PARTNER_PATHS.get(scope["path"]) if scope["type"] == "http" else None
        if methods is None:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        allowed = origin.rstrip("/").lower() in await browser_origins()
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await _preflight(allowed, methods, headers)(scope, receive, send)
            return

        async def named(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers") or [] if k.lower() not in _CORS_NAMES]
                kept.append((b"vary", b"Origin"))
                if allowed:
                    kept += [
                        (b"access-control-allow-origin", origin.encode("latin-1")),
                        (b"access-control-expose-headers", b"WWW-Authenticate"),
                    ]
                message["headers"] = kept
            await send(message)

        await self.app(scope, receive, named)


def _preflight(allowed: bool, methods: tuple[str, ...], headers: Headers) -> Response:
    """204 naming the origin, methods and headers; 403 without any CORS header for anyone else."""
    asked = headers.get("access-control-request-method", "").upper()
    if not allowed or asked not in methods:
        return Response(status_code=403, headers={"Vary": "Origin"})
    return Response(
        status_code=204,
        headers={
            "Access-Control-Allow-Origin": headers["origin"],
            "Access-Control-Allow-Methods": ", ".join(methods),
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": MAX_AGE,
            "Vary": "Origin",
        },
    )
