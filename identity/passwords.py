"""Password policy (NIST SP 800-63B-4) and Argon2id hashing off the event loop."""

from __future__ import annotations

import gzip
import os
import unicodedata
from functools import lru_cache
from importlib import resources

import anyio
import anyio.to_thread
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from identity.errors import FieldProblem


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """19,640 common passwords (Royce Williams' list, as shipped and maintained by Django)."""
    raw = resources.files("identity").joinpath("data/common-passwords.txt.gz").read_bytes()
    return frozenset(line.strip() for line in gzip.decompress(raw).decode().splitlines() if line.strip())


def normalize_password(password: str) -> str:
    """NFKC, so the same password typed on two keyboards is the same; nothing trimmed or folded."""
    return unicodedata.normalize("NFKC", password)


def check_password_policy(
    password: str,
    *,
    min_length: int,
    max_length: int,
    context: tuple[str | None, ...] = (),
    field: str = "password",
) -> None:
    """Raises FieldProblem: too short, too long, common, or containing the account's own identifiers."""
    if len(password) > max_length:  # checked on the raw input, before any normalisation or hashing
        raise FieldProblem(field, "PASSWORD_TOO_LONG", max=max_length)
    normalized = normalize_password(password)
    if not normalized:
        raise FieldProblem(field, "REQUIRED")
    if len(normalized) < min_length:
        raise FieldProblem(field, "PASSWORD_TOO_SHORT", min=min_length)
    folded = normalized.casefold()
    if folded in common_passwords() or folded.strip() in common_passwords():
        raise FieldProblem(field, "PASSWORD_TOO_COMMON")
    for item in _context_words(context):
        if item in folded:
            raise FieldProblem(field, "PASSWORD_CONTAINS_IDENTIFIER")


def _context_words(context: tuple[str | None, ...]) -> list[str]:
    """The account's e-mail (and its local part), login, and phone digits, when long enough to matter."""
    words: list[str] = []
    for value in context:
        if not value:
            continue
        value = value.casefold()
        words.append(value)
        if "@" in value:
            words.append(value.split("@", 1)[0])
        if value.startswith("+"):
            digits = value[1:]
            words.append(digits)
            words.append(digits[-10:])  # the national number, as residents type it
    return [w for w in words if len(w) >= 4]


def usable_cores() -> int:
    """The cores this process may run on (`taskset`, cgroup cpusets), not every core of the machine."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


class Passwords:
    """Argon2id hashing and verification in worker threads, at most one per core at a time.

    argon2-cffi releases the GIL, so threads give real parallelism; the limiter keeps memory at
    (cores × m) instead of (thread pool × m) under a burst.
    """

    def __init__(self, memory_kib: int, time_cost: int, parallelism: int, concurrency: int | None = None):
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        self._limiter = anyio.CapacityLimiter(concurrency or usable_cores())
        # A real hash of a random password: verifying against it costs what a real verify costs.
        self._dummy_hash = self._hasher.hash(os.urandom(16).hex())

    def hash_sync(self, password: str) -> str:
        return self._hasher.hash(normalize_password(password))

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self.hash_sync, password, limiter=self._limiter)

    def _verify_sync(self, stored: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored or self._dummy_hash, normalize_password(password)) and (
                stored is not None
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def verify(self, stored: str | None, password: str) -> bool:
        """True when `password` matches; with `stored=None` spends the same time and returns False."""
        return await anyio.to_thread.run_sync(self._verify_sync, stored, password, limiter=self._limiter)

    def needs_rehash(self, stored: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True
