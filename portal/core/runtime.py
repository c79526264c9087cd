"""Everything a service function needs from the process, built once at start-up and passed down."""

from __future__ import annotations

from dataclasses import dataclass, field

from portal.core.clock import Clock
from portal.core.hashing import Passwords
from portal.core.providers import Providers, load_providers
from portal.core.session_cache import SessionCache
from portal.core.settings import Settings
from portal.core.throttle import FallbackStore, MemoryStore, RedisStore, Store, Throttle
from portal.core.tokens import TokenHasher


@dataclass
class Runtime:
    settings: Settings
    clock: Clock = field(default_factory=Clock)
    passwords: Passwords = field(init=False)
    tokens: TokenHasher = field(init=False)
    throttle: Throttle = field(init=False)
    providers: Providers = field(init=False)  # federated sign-in; bad configuration fails here, at start-up
    session_cache: SessionCache = field(default_factory=SessionCache)  # off until a change feed turns it on

    def __post_init__(self) -> None:
        s = self.settings
        self.passwords = Passwords(s.argon2_memory_kib, s.argon2_time_cost, s.argon2_parallelism, s.hash_concurrency)
        self.tokens = TokenHasher(s.secret)
        local = MemoryStore(s.throttle_max_keys)
        store: Store = (
            FallbackStore(RedisStore.from_url(s.redis_url, s.redis_key_prefix), local) if s.redis_url else local
        )
        self.throttle = Throttle(store, self.clock)
        self.providers = Providers(load_providers(s.oidc_providers))
