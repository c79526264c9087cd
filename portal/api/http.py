"""Reading a request: the real client address, the language, the bearer token, the browser's session cookie."""

from __future__ import annotations

import functools
import ipaddress
from datetime import datetime

from starlette.requests import HTTPConnection
from starlette.responses import Response

from portal.core.client import ClientInfo
from portal.core.i18n import negotiate
from portal.core.runtime import Runtime
from portal.core.settings import Settings
from portal.identity import sessions
from portal.models.accounts import Session

LANG_COOKIE = "portal_lang"


def session_cookie_name(settings: Settings) -> str:
    """`__Host-` (Secure, host-only, Path=/) outside plain-http loopback development."""
    return "__Host-portal_session" if settings.secure_cookies else "portal_session"


def client_address(conn: HTTPConnection, settings: Settings) -> str | None:
    """The socket's peer, or the right-most untrusted `X-Forwarded-For` hop when the peer is a trusted proxy.

    Worked out once per request (the middleware's log context and the route both ask) and kept in the scope.
    """
    state = conn.scope.setdefault("state", {})
    if "client_address" not in state:
        state["client_address"] = _client_address(conn, settings)
    address: str | None = state["client_address"]
    return address


def _client_address(conn: HTTPConnection, settings: Settings) -> str | None:
    peer = conn.client.host if conn.client else None
    networks = settings.trusted_proxy_networks
    if not networks or not peer or _proxy(peer, networks) is not True:
        return peer
    forwarded = conn.headers.get("x-forwarded-for")
    if not forwarded:
        return peer
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        trusted = _proxy(hop, networks)
        if trusted is None:
            return peer  # a malformed chain is not believed
        if not trusted:
            return hop
    return hops[0] if hops else peer


@functools.lru_cache(maxsize=4096)
def _proxy(address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool | None:
    """Whether `address` is in one of the trusted proxies' networks; None when it is no IP address at all.

    Asked on every request for the peer and each forwarded hop: remembered, since parsing an address and
    testing it against every network cost more than the rest of working out the client (issue 21).
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    return any(ip in net for net in networks)


def client_info(conn: HTTPConnection, settings: Settings) -> ClientInfo:
    lang = negotiate(conn.headers.get("accept-language"), conn.cookies.get(LANG_COOKIE), settings.language_list)
    return ClientInfo(
        address=client_address(conn, settings),
        user_agent=(conn.headers.get("user-agent") or "")[:300] or None,
        locale=lang,
    )


def bearer_token(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization")
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


def set_session_cookie(response: Response, settings: Settings, cookie: str, session: Session, now: datetime) -> None:
    """The browser's one session cookie (identity.sessions.open_browser_session): HttpOnly, SameSite=Lax,
    `__Host-` and Secure outside plain-http loopback; it lives until the session's absolute limit, while the
    server enforces the idle timeout and revocation itself."""
    remaining = max(1, int((session.expires_at - now).total_seconds()))
    response.set_cookie(
        session_cookie_name(settings),
        cookie,
        max_age=remaining,
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    secure = settings.secure_cookies
    response.delete_cookie(session_cookie_name(settings), path="/", secure=secure, httponly=True, samesite="lax")


async def browser_session(rt: Runtime, conn: HTTPConnection) -> Session | None:
    """The session this browser's cookie names: the one way every page, `/oauth/*` and `/graphql` read it."""
    return await sessions.browser_session(rt, conn.cookies.get(session_cookie_name(rt.settings)))


def posted_from_own_page(conn: HTTPConnection, settings: Settings) -> bool:
    """A form post (or fetch) that a page of this portal sent, as far as the browser tells us.

    `Sec-Fetch-Site` is set by the browser itself and believed when present. A page served with
    `Referrer-Policy: no-referrer` (consent, logout confirmation, reset) makes the browser send
    `Origin: null` even to its own origin, so there `Sec-Fetch-Site: same-origin` is what says it is ours.
    Without `Sec-Fetch-Site` (older browsers), an `Origin` must be ours (`null` is not); without either, the
    form's CSRF token decides alone.
    """
    fetch_site = conn.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    origin = conn.headers.get("origin")
    if origin is None:
        return True
    return origin.rstrip("/").lower() == settings.public_origin
