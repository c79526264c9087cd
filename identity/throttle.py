"""Throttling: sliding-window counters per account, identifier or client address.

One building block for every door that takes a secret or sends a letter. `MemoryStore` keeps the
counters in the process (one replica); a Redis store shares them between replicas.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from api.clock import Clock
from identity.errors import TooMany


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `count` events per `window` seconds for one key of this `name`."""

    name: str
    count: int
    window: int


class Store(Protocol):
    async def hit(self, key: str, limit: Limit, now: float) -> float | None:
        """Counts one event and returns None, or returns the seconds to wait when the limit is reached."""

    async def peek(self, key: str, limit: Limit, now: float) -> float | None:
        """Like `hit` without counting."""

    async def reset(self, key: str, limit: Limit) -> None: ...


class MemoryStore:
    """A sliding log of event times per key, in this process only."""

    def __init__(self) -> None:
        self._events: dict[str, deque[float]] = {}
        self._lock = asyncio.Lock()

    def _window(self, key: str, limit: Limit, now: float) -> deque[float]:
        events = self._events.setdefault(f"{limit.name}:{key}", deque())
        while events and events[0] <= now - limit.window:
            events.popleft()
        return events

    async def hit(self, key: str, limit: Limit, now: float) -> float | None:
        async with self._lock:
            events = self._window(key, limit, now)
            if len(events) >= limit.count:
                return events[0] + limit.window - now
            events.append(now)
            return None

    async def peek(self, key: str, limit: Limit, now: float) -> float | None:
        async with self._lock:
            events = self._window(key, limit, now)
            return events[0] + limit.window - now if len(events) >= limit.count else None

    async def reset(self, key: str, limit: Limit) -> None:
        async with self._lock:
            self._events.pop(f"{limit.name}:{key}", None)


class Throttle:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def hit(self, limit: Limit, key: str | None) -> TooMany | None:
        """Counts an attempt; `TooMany` when over the limit. A missing key (no client address) is not limited."""
        if key is None:
            return None
        wait = await self.store.hit(key, limit, self.clock.now().timestamp())
        return TooMany(max(1, math.ceil(wait))) if wait is not None else None

    async def check(self, limit: Limit, key: str | None) -> TooMany | None:
        if key is None:
            return None
        wait = await self.store.peek(key, limit, self.clock.now().timestamp())
        return TooMany(max(1, math.ceil(wait))) if wait is not None else None

    async def reset(self, limit: Limit, key: str) -> None:
        await self.store.reset(key, limit)
