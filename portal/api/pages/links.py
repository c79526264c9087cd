"""Secrets that arrive in a link leave the address bar at once.

A mailed link (`/reset-password?token=…`, `/support/status?number=…&key=…`, and any later one) is
answered with a 303 to the same page without its secret, which travels on in a cookie: sealed with
AES-GCM under a key derived from the portal secret (so it cannot be read or forged, and the page's
path is bound as associated data), `HttpOnly`, `SameSite=Lax`, limited to that page's path and short-lived.
History, bookmarks, the `Referer` header and proxies' logs then never hold the secret, and the page
works without JavaScript (as Django's password-reset view does it, with a server-side session).
Nothing is stored on the server, so any replica opens it.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from urllib.parse import urlencode

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.requests import Request
from starlette.responses import Response

from portal.core.runtime import Runtime

SEAL_PURPOSE = "page-link-secret"
MAX_COOKIE_CHARS = 2000  # a sealed value a browser sends back; anything longer is not ours


class LinkSecrets:
    """Moves a page's secret query parameters into a sealed cookie of that page's path, and back."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        secure = rt.settings.secure_cookies
        self.cookie = "__Secure-portal_link" if secure else "portal_link"
        self.secure = secure

    def stash(self, response: Response, path: str, values: Mapping[str, str], max_age: int) -> None:
        """Sets the cookie holding `values` for `path`, valid `max_age` seconds."""
        expires = int(self.rt.clock.now().timestamp()) + max_age
        plain = json.dumps({"v": dict(values), "exp": expires}, separators=(",", ":")).encode()
        nonce = os.urandom(12)
        sealed = AESGCM(self.rt.tokens.key(SEAL_PURPOSE)).encrypt(nonce, plain, path.encode())
        value = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        response.set_cookie(
            self.cookie, value, max_age=max_age, path=path, secure=self.secure, httponly=True, samesite="lax"
        )

    def read(self, request: Request, path: str) -> dict[str, str]:
        """The values stashed for `path` by this browser; empty when absent, expired, foreign or tampered with."""
        raw = request.cookies.get(self.cookie, "")
        if not raw or len(raw) > MAX_COOKIE_CHARS:
            return {}
        try:
            data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
            plain = AESGCM(self.rt.tokens.key(SEAL_PURPOSE)).decrypt(data[:12], data[12:], path.encode())
            content = json.loads(plain)
        except Exception:  # malformed base64, a wrong tag (InvalidTag carries no message), bad JSON
            return {}
        if not isinstance(content, dict) or content.get("exp", 0) <= self.rt.clock.now().timestamp():
            return {}
        values = content.get("v")
        return {k: v for k, v in values.items() if isinstance(v, str)} if isinstance(values, dict) else {}

    def forget(self, response: Response, path: str) -> None:
        response.delete_cookie(self.cookie, path=path, secure=self.secure, httponly=True, samesite="lax")

    def move_out_of_url(
        self, request: Request, names: tuple[str, ...], max_age: int, keep: Mapping[str, str] | None = None
    ) -> Response | None:
        """When the URL carries any of `names`: a 303 to the same path (with only `keep` as its query)
        that stashes them; None when the URL is already clean."""
        values = {name: request.query_params[name] for name in names if name in request.query_params}
        if not values:
            return None
        target = request.url.path + ("?" + urlencode(keep) if keep else "")
        response = Response(status_code=303, headers={"Location": target, "Cache-Control": "no-store"})
        self.stash(response, request.url.path, values, max_age)
        return response
