"""Argon2id hashing off the event loop, bounded by the cores the process may use."""

from __future__ import annotations

import asyncio
import os
import time
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from portal.core.metrics import ARGON2_WAIT

T = TypeVar("T")


def normalize_password(password: str) -> str:
    """NFKC, so the same password typed on two keyboards is the same; nothing trimmed or folded."""
    return unicodedata.normalize("NFKC", password)


def usable_cores() -> int:
    """The cores this process may run on (`taskset`, cgroup cpusets), not every core of the machine."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


class Passwords:
    """Argon2id hashing and verification in worker threads, at most one per core at a time.

    argon2-cffi releases the GIL, so threads give real parallelism; a pool of its own, one thread per core,
    keeps memory at (cores × m) under a burst, the rest queued. A plain executor hand-off costs the event
    loop ~30 µs a hash against ~50 µs through anyio's `to_thread` and capacity limiter (measured).
    """

    def __init__(self, memory_kib: int, time_cost: int, parallelism: int, concurrency: int | None = None):
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        self._pool = ThreadPoolExecutor(concurrency or usable_cores(), thread_name_prefix="argon2")
        # A real hash of a random password: verifying against it costs what a real verify costs.
        self._dummy_hash = self._hasher.hash(os.urandom(16).hex())

    def hash_sync(self, password: str) -> str:
        return self._hasher.hash(normalize_password(password))

    async def _in_thread(self, work: Callable[[], T]) -> T:
        """Runs `work` on a hashing thread, recording how long it queued for one (`ARGON2_WAIT`)."""
        queued = time.perf_counter()

        def timed() -> T:
            ARGON2_WAIT.observe(time.perf_counter() - queued)
            return work()

        return await asyncio.get_running_loop().run_in_executor(self._pool, timed)

    async def hash(self, password: str) -> str:
        return await self._in_thread(lambda: self.hash_sync(password))

    def _verify_sync(self, stored: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored or self._dummy_hash, normalize_password(password)) and (
                stored is not None
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def verify(self, stored: str | None, password: str) -> bool:
        """True when `password` matches; with `stored=None` spends the same time and returns False."""
        return await self._in_thread(lambda: self._verify_sync(stored, password))

    def needs_rehash(self, stored: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True
