"""ID-token signing keys: generated on first start, private parts encrypted at rest, imported once."""

from __future__ import annotations

import asyncio
import base64
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from joserfc.jwk import ECKey, RSAKey

from portal.core.runtime import Runtime
from portal.models.provider import SigningKey

ALGORITHMS = ("RS256", "ES256")
KEY_PURPOSE = "oidc-signing-keys"
RELOAD_SECONDS = 60  # other replicas pick up a rotation within this long


@dataclass(frozen=True, slots=True)
class LoadedKey:
    kid: str
    alg: str
    key: RSAKey | ECKey  # the imported private key, handed to joserfc as is


def _cipher(rt: Runtime) -> AESGCM:
    return AESGCM(rt.tokens.key(KEY_PURPOSE))


def encrypt_private(rt: Runtime, kid: str, private_pem: bytes) -> str:
    nonce = secrets.token_bytes(12)
    return base64.b64encode(nonce + _cipher(rt).encrypt(nonce, private_pem, kid.encode())).decode()


def decrypt_private(rt: Runtime, kid: str, blob: str) -> bytes:
    raw = base64.b64decode(blob)
    return _cipher(rt).decrypt(raw[:12], raw[12:], kid.encode())


def _generate(alg: str) -> RSAKey | ECKey:
    return RSAKey.generate_key(2048, private=True) if alg == "RS256" else ECKey.generate_key("P-256", private=True)


async def create_key(rt: Runtime, alg: str) -> SigningKey:
    """A new signing key for `alg`, stored with its private part encrypted."""
    key = _generate(alg)
    kid = secrets.token_urlsafe(12)
    public = key.as_dict(private=False)
    public.update(kid=kid, alg=alg, use="sig")
    pem = key.as_pem(private=True)
    return await SigningKey.create(
        kid=kid, alg=alg, public_jwk=public, private_encrypted=encrypt_private(rt, kid, pem), created_at=rt.clock.now()
    )


async def ensure_keys(rt: Runtime) -> None:
    """Generates an RS256 and an ES256 key the first time the provider starts."""
    current = {k.alg for k in await SigningKey.filter(retired_at__isnull=True)}
    for alg in ALGORITHMS:
        if alg not in current:
            await create_key(rt, alg)


async def rotate_keys(rt: Runtime, keep_published: timedelta) -> list[str]:
    """New current keys; the old ones stop signing and stay published for `keep_published` (token lifetimes)."""
    now = rt.clock.now()
    await SigningKey.filter(retired_at__isnull=True).update(retired_at=now, publish_until=now + keep_published)
    return [(await create_key(rt, alg)).kid for alg in ALGORITHMS]


async def published_keys(rt: Runtime) -> list[dict[str, Any]]:
    """The JWKS: current keys and retired ones still inside their publication window (one query)."""
    now = rt.clock.now()
    rows = await SigningKey.all().order_by("-created_at")
    return [dict(r.public_jwk) for r in rows if r.publish_until is None or r.publish_until > now]


class KeyRing:
    """The current signing keys, imported once per process and re-read only when a rotation happened."""

    def __init__(self) -> None:
        self._by_alg: dict[str, LoadedKey] = {}
        self._checked_at: datetime | None = None
        self._lock = asyncio.Lock()

    async def load(self, rt: Runtime) -> None:
        now = rt.clock.now()
        if self._checked_at and (now - self._checked_at).total_seconds() < RELOAD_SECONDS and self._by_alg:
            return
        async with self._lock:
            if self._checked_at and (now - self._checked_at).total_seconds() < RELOAD_SECONDS and self._by_alg:
                return
            await ensure_keys(rt)
            rows = await SigningKey.filter(retired_at__isnull=True).order_by("created_at")
            loaded: dict[str, LoadedKey] = {}
            for row in rows:  # the newest of each algorithm wins
                known = self._by_alg.get(row.alg)
                if known and known.kid == row.kid:
                    loaded[row.alg] = known
                    continue
                pem = decrypt_private(rt, row.kid, row.private_encrypted)
                imported: RSAKey | ECKey = (RSAKey if row.alg == "RS256" else ECKey).import_key(
                    pem, {"kid": row.kid, "alg": row.alg, "use": "sig"}
                )
                loaded[row.alg] = LoadedKey(row.kid, row.alg, imported)
            self._by_alg = loaded
            self._checked_at = now

    def signing_key(self, alg: str) -> LoadedKey:
        return self._by_alg[alg]


_RINGS: dict[int, KeyRing] = {}


def keyring_for(rt: Runtime) -> KeyRing:
    """The process's key ring for this runtime: keys are decrypted and imported once, not per token."""
    ring = _RINGS.get(id(rt))
    if ring is None:
        ring = _RINGS[id(rt)] = KeyRing()
    return ring
