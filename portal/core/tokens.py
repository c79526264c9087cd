"""Random secrets and their keyed hashes: the database never holds a usable token."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_token() -> str:
    """256 bits from `secrets`, URL-safe (A-Za-z0-9-_)."""
    return secrets.token_urlsafe(32)


class TokenHasher:
    """HMAC-SHA256 under a key derived from the portal's secret, one derived key per purpose."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._keys: dict[str, bytes] = {}

    def key(self, purpose: str) -> bytes:
        if purpose not in self._keys:
            self._keys[purpose] = hmac.new(self._secret, b"portal:" + purpose.encode(), hashlib.sha256).digest()
        return self._keys[purpose]

    def digest(self, purpose: str, token: str) -> str:
        return hmac.new(self.key(purpose), token.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()

    @staticmethod
    def equal(a: str, b: str) -> bool:
        return hmac.compare_digest(a.encode(), b.encode())
