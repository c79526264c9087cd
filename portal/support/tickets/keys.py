"""The keys of a ticket: the access key that opens its status page, and the scoped idempotency key.

Both are stored only as keyed hashes (`rt.tokens`); the purposes below keep each hash apart from the others.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlencode
from uuid import UUID

from portal.core.runtime import Runtime

KEY_PURPOSE = "ticket-key"
IDEMPOTENCY_PURPOSE = "ticket-idempotency"
CONTENT_PURPOSE = "ticket-content"
DERIVED_KEY_PURPOSE = "ticket-key-derivation"


def derived_access_key(rt: Runtime, idempotency_hash: str, content_hash: str) -> str:
    """The access key of a ticket filed with an idempotency key.

    The key is stored only hashed, yet a retry must get the same key back. Rather than keep the key
    recoverable in the database, it is derived: HMAC(portal secret, idempotency hash + content hash). The
    same retry (same scope, key and content) recomputes it; a database dump holds neither the idempotency
    key (hashed too) nor the secret, so it yields no usable access key. It carries 256 bits like a random one.
    """
    message = f"{idempotency_hash}:{content_hash}".encode()
    mac = hmac.new(rt.tokens.key(DERIVED_KEY_PURPOSE), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def idempotency_hash(rt: Runtime, key: str, account_id: UUID | None) -> str:
    """Keys are scoped: a signed-in resident's keys never collide with anyone else's."""
    scope = f"account:{account_id}" if account_id else "anonymous"
    return rt.tokens.digest(IDEMPOTENCY_PURPOSE, f"{scope}\x00{key}")


def status_url(rt: Runtime, number: str, access_key: str) -> str:
    """The resident's status page link, always built from PORTAL_PUBLIC_URL."""
    return f"{rt.settings.public_url}/support/status?{urlencode({'number': number, 'key': access_key})}"
