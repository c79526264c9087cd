"""Throttling: sliding-window counters per account, identifier or client address, and a failure backoff.

One building block for every door that takes a secret or sends a letter. `MemoryStore` keeps the
counters in the process (one replica), at most `max_keys` of them; `RedisStore` shares them between
replicas, each operation one atomic Lua script; `FallbackStore` answers from a `MemoryStore` while Redis
is down (per-process limits, never no limits and never a failed sign-in) and goes back to Redis when it
returns. Time always comes from the portal's clock, so tests move it instead of sleeping.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from portal.core.clock import Clock
from portal.core.errors import TooMany
from portal.core.metrics import MEMORY_THROTTLE_KEYS, REDIS_FALLBACKS, REDIS_UP, THROTTLE_REFUSALS

log = logging.getLogger("portal.throttle")
T = TypeVar("T")


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
    """A sliding log of event times per key, in this process only, holding at most `max_keys` keys.

    Both maps are kept in order of last change, so what was touched longest ago goes first: expired
    entries are swept from that end on every write, and past `max_keys` the oldest live ones are
    dropped too (a spray of made-up identifiers costs bounded memory, not the process).
    """

    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._events: OrderedDict[str, tuple[deque[float], float]] = OrderedDict()  # key -> (times, forget at)
        # key -> (failures, blocked until, forget at)
        self._backoffs: OrderedDict[str, tuple[int, float, float]] = OrderedDict()
        self._lock = asyncio.Lock()

    def __len__(self) -> int:
        return len(self._events) + len(self._backoffs)

    def _window(self, key: str, limit: Limit, now: float) -> deque[float]:
        entry = self._events.get(f"{limit.name}:{key}")
        events = entry[0] if entry else deque()
        while events and events[0] <= now - limit.window:
            events.popleft()
        return events

    def _store_events(self, key: str, limit: Limit, events: deque[float], now: float) -> None:
        name = f"{limit.name}:{key}"
        self._events[name] = (events, (events[-1] if events else now) + limit.window)
        self._events.move_to_end(name)
        self._bound(now)

    def _bound(self, now: float) -> None:
        """Sweeps expired entries from the old end of both maps, then drops the oldest beyond `max_keys`."""
        while self._events and next(iter(self._events.values()))[1] <= now:
            self._events.popitem(last=False)
        while self._backoffs and next(iter(self._backoffs.values()))[2] <= now:
            self._backoffs.popitem(last=False)
        while len(self) > self.max_keys:
            if len(self._events) >= len(self._backoffs):
                self._events.popitem(last=False)
            else:
                self._backoffs.popitem(last=False)
        MEMORY_THROTTLE_KEYS.set(len(self))

    async def hit(self, key: str, limit: Limit, now: float) -> float | None:
        async with self._lock:
            events = self._window(key, limit, now)
            if len(events) >= limit.count:
                return events[0] + limit.window - now
            events.append(now)
            self._store_events(key, limit, events, now)
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
            name = f"{policy.name}:{key}"
            self._backoffs[name] = (count, now + wait, now + wait + policy.keep)
            self._backoffs.move_to_end(name)
            self._bound(now)
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

        # Bounded timeouts: a Redis that does not answer costs the first sign-ins of an outage seconds, not a
        # hang (then FallbackStore stops asking for a while); not so short that a busy machine's slow connect
        # under a burst reads as an outage.
        client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=3.0, socket_timeout=3.0)
        return cls(client, prefix)

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


class FallbackStore:
    """Redis while it answers; the per-process `MemoryStore` while it does not (logged and counted).

    After a failure Redis is left alone for `retry_seconds` (monotonic time: this is about the
    connection, not about the portal's clock), so an outage costs one failed round trip per pause
    rather than one per request; the first success after it switches back to the shared limits.
    """

    def __init__(self, shared: Store, local: MemoryStore, retry_seconds: float = 5.0) -> None:
        self.shared = shared
        self.local = local
        self.retry_seconds = retry_seconds
        self._down_until: float | None = None
        REDIS_UP.set(1)

    @property
    def degraded(self) -> bool:
        return self._down_until is not None

    async def _call(self, shared: Callable[[], Awaitable[T]], local: Callable[[], Awaitable[T]]) -> T:
        if self._down_until is not None and time.monotonic() < self._down_until:
            REDIS_FALLBACKS.inc()
            return await local()
        try:
            result = await shared()
        except (OSError, ConnectionError, TimeoutError) as exc:
            self._went_down(exc)
            return await local()
        except Exception as exc:
            if not _is_redis_error(exc):
                raise
            self._went_down(exc)
            return await local()
        if self._down_until is not None:
            self._down_until = None
            REDIS_UP.set(1)
            log.warning("Redis answers again: throttling is shared between replicas again")
        return result

    def _went_down(self, exc: BaseException) -> None:
        if self._down_until is None:
            log.error("Redis unavailable (%s: %s): throttling per process until it returns", type(exc).__name__, exc)
        self._down_until = time.monotonic() + self.retry_seconds
        REDIS_UP.set(0)
        REDIS_FALLBACKS.inc()

    async def hit(self, key: str, limit: Limit, now: float) -> float | None:
        return await self._call(lambda: self.shared.hit(key, limit, now), lambda: self.local.hit(key, limit, now))

    async def peek(self, key: str, limit: Limit, now: float) -> float | None:
        return await self._call(lambda: self.shared.peek(key, limit, now), lambda: self.local.peek(key, limit, now))

    async def reset(self, key: str, limit: Limit) -> None:
        await self._call(lambda: self.shared.reset(key, limit), lambda: self.local.reset(key, limit))

    async def reserve(self, key: str, policy: Backoff, now: float) -> float | None:
        return await self._call(
            lambda: self.shared.reserve(key, policy, now), lambda: self.local.reserve(key, policy, now)
        )

    async def clear(self, key: str, policy: Backoff) -> None:
        await self._call(lambda: self.shared.clear(key, policy), lambda: self.local.clear(key, policy))

    async def failures(self, key: str, policy: Backoff, now: float) -> int:
        return await self._call(
            lambda: self.shared.failures(key, policy, now), lambda: self.local.failures(key, policy, now)
        )

    async def close(self) -> None:
        close = getattr(self.shared, "close", None)
        if close is not None:
            await close()


def _is_redis_error(exc: BaseException) -> bool:
    """redis-py's own connection and timeout errors (not subclasses of the built-in ones in every version)."""
    import redis.exceptions

    return isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError)


class Throttle:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def hit(self, limit: Limit, key: str | None) -> TooMany | None:
        """Counts an attempt; `TooMany` when over the limit. A missing key (no client address) is not limited."""
        if key is None:
            return None
        wait = await self.store.hit(key, limit, self.clock.now().timestamp())
        return _refused(limit.name, wait)

    async def check(self, limit: Limit, key: str | None) -> TooMany | None:
        if key is None:
            return None
        wait = await self.store.peek(key, limit, self.clock.now().timestamp())
        return _refused(limit.name, wait)

    async def reset(self, limit: Limit, key: str) -> None:
        await self.store.reset(key, limit)

    async def attempt(self, policy: Backoff, key: str) -> TooMany | None:
        """Reserves one attempt (counted as a failure until `clear`); `TooMany` while the key is blocked.

        Reserving before the secret is checked is what keeps concurrent guesses within the policy.
        """
        wait = await self.store.reserve(key, policy, self.clock.now().timestamp())
        return _refused(policy.name, wait)

    async def clear(self, policy: Backoff, key: str) -> None:
        await self.store.clear(key, policy)

    async def failures(self, policy: Backoff, key: str) -> int:
        return await self.store.failures(key, policy, self.clock.now().timestamp())


def _refused(name: str, wait: float | None) -> TooMany | None:
    if wait is None:
        return None
    THROTTLE_REFUSALS.labels(name).inc()
    return TooMany(max(1, math.ceil(wait)))
