"""Throttling: sliding-window counters per account, identifier or client address, and a failure backoff.

One building block for every door that takes a secret or sends a letter. `MemoryStore` keeps the
counters in the process (one replica); `RedisStore` shares them between replicas, each operation one
atomic Lua script. Time always comes from the portal's clock, so tests move it instead of sleeping.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from portal.core.clock import Clock
from portal.core.errors import TooMany


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `count` events per `window` seconds for one key of this `name`."""

    name: str
    count: int
    window: int


@dataclass(frozen=True, slots=True)
class Backoff:
    """Consecutive failures on one key: a growing wait after each, then a lock; a success clears them.

    `delays[i]` is the wait (seconds) after the (i+1)-th consecutive failure, the last one repeating;
    from `hard_limit` failures on, the key stays locked for `hard_seconds`. The count is forgotten
    `keep` seconds after the last attempt.
    """

    name: str
    delays: tuple[int, ...]
    hard_limit: int
    hard_seconds: int
    keep: int

    def wait_after(self, failures: int) -> int:
        if failures >= self.hard_limit:
            return self.hard_seconds
        return self.delays[min(failures, len(self.delays)) - 1] if failures > 0 else 0


class Store(Protocol):
    async def hit(self, key: str, limit: Limit, now: float) -> float | None:
        """Counts one event and returns None, or returns the seconds to wait when the limit is reached."""

    async def peek(self, key: str, limit: Limit, now: float) -> float | None:
        """Like `hit` without counting."""

    async def reset(self, key: str, limit: Limit) -> None: ...

    async def reserve(self, key: str, policy: Backoff, now: float) -> float | None:
        """Counts one attempt as a failure in advance and returns None, or the seconds to wait while blocked."""

    async def clear(self, key: str, policy: Backoff) -> None: ...

    async def failures(self, key: str, policy: Backoff, now: float) -> int:
        """The current consecutive count (for tests and the staff desk)."""


class MemoryStore:
    """A sliding log of event times per key, in this process only."""

    def __init__(self) -> None:
        self._events: dict[str, deque[float]] = {}
        self._backoffs: dict[str, tuple[int, float, float]] = {}  # key -> (failures, blocked until, forget at)
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

    def _backoff(self, key: str, policy: Backoff, now: float) -> tuple[int, float] | None:
        state = self._backoffs.get(f"{policy.name}:{key}")
        if state is None or state[2] <= now:
            return None
        return state[0], state[1]

    async def reserve(self, key: str, policy: Backoff, now: float) -> float | None:
        async with self._lock:
            count, until = self._backoff(key, policy, now) or (0, 0.0)
            if now < until:
                return until - now
            count += 1
            wait = policy.wait_after(count)
            self._backoffs[f"{policy.name}:{key}"] = (count, now + wait, now + wait + policy.keep)
            return None

    async def clear(self, key: str, policy: Backoff) -> None:
        async with self._lock:
            self._backoffs.pop(f"{policy.name}:{key}", None)

    async def failures(self, key: str, policy: Backoff, now: float) -> int:
        async with self._lock:
            state = self._backoff(key, policy, now)
            return state[0] if state else 0


# Sliding log on a sorted set: drop what left the window, then count; add only when under the limit.
_HIT = """
local key, now, window, count, member, add = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]),
    tonumber(ARGV[3]), ARGV[4], ARGV[5] == '1'
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) >= count then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return tostring(tonumber(oldest[2]) + window - now)
end
if add then
  redis.call('ZADD', key, now, member)
  redis.call('EXPIRE', key, math.ceil(window) + 1)
end
return false
"""

# Backoff state in a hash: n (consecutive failures), u (blocked until); ARGV[4..] are the policy's delays.
_RESERVE = """
local key, now, keep = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local hard_limit, hard_seconds = tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HMGET', key, 'n', 'u')
local n, u = tonumber(state[1] or '0'), tonumber(state[2] or '0')
if now < u then return tostring(u - now) end
n = n + 1
local wait
if n >= hard_limit then wait = hard_seconds else wait = tonumber(ARGV[4 + math.min(n, #ARGV - 4)]) end
redis.call('HSET', key, 'n', n, 'u', string.format('%.6f', now + wait))
redis.call('EXPIRE', key, math.ceil(wait + keep))
return false
"""


class RedisStore:
    """The same counters in Redis, shared by every replica; each operation is one atomic script."""

    def __init__(self, client: Any, prefix: str = "portal:") -> None:
        self._redis = client
        self._prefix = prefix + "throttle:"
        self._hit = client.register_script(_HIT)
        self._reserve = client.register_script(_RESERVE)

    @classmethod
    def from_url(cls, url: str, prefix: str = "portal:") -> RedisStore:
        import redis.asyncio

        return cls(redis.asyncio.Redis.from_url(url), prefix)

    def _key(self, name: str, key: str) -> str:
        return f"{self._prefix}{name}:{key}"

    async def _run_hit(self, key: str, limit: Limit, now: float, add: bool) -> float | None:
        member = f"{now:.6f}:{uuid.uuid4().hex[:8]}"
        args = [repr(now), limit.window, limit.count, member, "1" if add else "0"]
        wait = await self._hit(keys=[self._key(limit.name, key)], args=args)
        return float(wait) if wait is not None else None

    async def hit(self, key: str, limit: Limit, now: float) -> float | None:
        return await self._run_hit(key, limit, now, add=True)

    async def peek(self, key: str, limit: Limit, now: float) -> float | None:
        return await self._run_hit(key, limit, now, add=False)

    async def reset(self, key: str, limit: Limit) -> None:
        await self._redis.delete(self._key(limit.name, key))

    async def reserve(self, key: str, policy: Backoff, now: float) -> float | None:
        args = [repr(now), policy.keep, policy.hard_limit, policy.hard_seconds, *policy.delays]
        wait = await self._reserve(keys=[self._key(policy.name, key)], args=args)
        return float(wait) if wait is not None else None

    async def clear(self, key: str, policy: Backoff) -> None:
        await self._redis.delete(self._key(policy.name, key))

    async def failures(self, key: str, policy: Backoff, now: float) -> int:
        count = await self._redis.hget(self._key(policy.name, key), "n")
        return int(count) if count is not None else 0

    async def close(self) -> None:
        await self._redis.aclose()


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

    async def attempt(self, policy: Backoff, key: str) -> TooMany | None:
        """Reserves one attempt (counted as a failure until `clear`); `TooMany` while the key is blocked.

        Reserving before the secret is checked is what keeps concurrent guesses within the policy.
        """
        wait = await self.store.reserve(key, policy, self.clock.now().timestamp())
        return TooMany(max(1, math.ceil(wait))) if wait is not None else None

    async def clear(self, policy: Backoff, key: str) -> None:
        await self.store.clear(key, policy)

    async def failures(self, policy: Backoff, key: str) -> int:
        return await self.store.failures(key, policy, self.clock.now().timestamp())
