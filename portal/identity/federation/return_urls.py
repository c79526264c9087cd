"""Where a federated sign-in may return to: the portal's own origin or an allowlisted URL."""

from __future__ import annotations

import logging
from urllib.parse import urlencode, urlsplit

from portal.core.errors import FieldCode, FieldProblem
from portal.core.runtime import Runtime
from portal.identity.federation.outcomes import DEFAULT_RETURN_PATH, RETURN_TO_MAX
from portal.identity.identifiers import has_control_characters

log = logging.getLogger("portal.federation")


def check_return_to(rt: Runtime, value: str | None) -> tuple[str, bool]:
    """The absolute return URL and whether it belongs to a mobile app (non-http scheme), or a FieldProblem.

    Allowed: a path on the portal (`/account`), a URL on the portal's own origin, or an entry of
    `PORTAL_ALLOWED_RETURN_URLS` matched exactly, with its own query string appended (`entry?…`), or, for
    an entry ending in `/`, any URL that starts with it. Fragments, credentials, spaces and backslashes never.
    """
    s = rt.settings
    problem = FieldProblem("returnTo", FieldCode.RETURN_URL_NOT_ALLOWED)
    if value is None or not value.strip():
        return s.public_url + DEFAULT_RETURN_PATH, False
    value = value.strip()
    if len(value) > RETURN_TO_MAX or has_control_characters(value) or any(c in value for c in " \\#"):
        raise problem
    if value.startswith("/"):
        if value.startswith("//"):
            raise problem
        return s.public_url + value, False
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if not scheme or "@" in parts.netloc:
        raise problem
    web = scheme in ("http", "https")
    if web and f"{scheme}://{parts.netloc.lower()}" == s.public_origin and parts.hostname:
        return value, False
    for entry in s.allowed_return_url_list:
        if value == entry or value.startswith(entry + "?") or (entry.endswith("/") and value.startswith(entry)):
            return value, not web
    raise problem


def with_query(url: str, **params: str) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


def callback_url(rt: Runtime, provider_id: str) -> str:
    return f"{rt.settings.public_url}/auth/federated/{provider_id}/callback"
