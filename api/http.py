"""Reading a request: the real client address, the language, the session token."""

from __future__ import annotations

import ipaddress

from starlette.requests import HTTPConnection

from api.i18n import negotiate
from api.settings import Settings
from identity.client import ClientInfo

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
    lang = negotiate(conn.headers.get("accept-language"), conn.cookies.get(LANG_COOKIE))
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
