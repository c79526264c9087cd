"""Reading a request: the real client address, the language, the session token."""

from __future__ import annotations

import ipaddress
from datetime import datetime

from starlette.requests import HTTPConnection
from starlette.responses import Response

from portal.core.client import ClientInfo
from portal.core.i18n import negotiate
from portal.core.settings import Settings
from portal.identity.sessions import IssuedSession

LANG_COOKIE = "portal_lang"


def session_cookie_name(settings: Settings) -> str:
    """`__Host-` (Secure, host-only, Path=/) outside plain-http loopback development."""
    return "__Host-portal_session" if settings.secure_cookies else "portal_session"


def client_address(conn: HTTPConnection, settings: Settings) -> str | None:
    """The socket's peer, or the right-most untrusted `X-Forwarded-For` hop when the peer is a trusted proxy."""
    peer = conn.client.host if conn.client else None
    networks = settings.trusted_proxy_networks
    if not networks or not peer or not _in(peer, networks):
        return peer
    forwarded = conn.headers.get("x-forwarded-for")
    if not forwarded:
        return peer
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a malformed chain is not believed
        if not _in(hop, networks):
            return hop
    return hops[0] if hops else peer


def _in(address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
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


# The browser session of the web pages: the access-token cookie (as set by /graphql) plus an HttpOnly
# refresh-token cookie sent only under REFRESH_COOKIE_PATH, where the pages trade it for a new pair or
# end the session (api/pages: /session/refresh, /session/logout).
REFRESH_COOKIE_PATH = "/session"


def refresh_cookie_name(settings: Settings) -> str:
    """`__Secure-` (its Path is REFRESH_COOKIE_PATH, so not `__Host-`) outside plain-http loopback development."""
    return "__Secure-portal_refresh" if settings.secure_cookies else "portal_refresh"


def set_session_cookies(response: Response, settings: Settings, issued: IssuedSession, now: datetime) -> None:
    """Access cookie for every path (15 minutes), refresh cookie for REFRESH_COOKIE_PATH only (until it expires)."""
    secure = settings.secure_cookies
    remaining = max(1, int((issued.session.expires_at - now).total_seconds()))
    response.set_cookie(
        session_cookie_name(settings),
        issued.access_token,
        max_age=min(remaining, settings.access_token_ttl),
        path="/",
        secure=secure,
        httponly=True,
        samesite="lax",
    )
    response.set_cookie(
        refresh_cookie_name(settings),
        issued.refresh_token,
        max_age=min(remaining, settings.refresh_token_ttl),
        path=REFRESH_COOKIE_PATH,
        secure=secure,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookies(response: Response, settings: Settings) -> None:
    secure = settings.secure_cookies
    response.delete_cookie(session_cookie_name(settings), path="/", secure=secure, httponly=True, samesite="lax")
    response.delete_cookie(
        refresh_cookie_name(settings), path=REFRESH_COOKIE_PATH, secure=secure, httponly=True, samesite="lax"
    )
