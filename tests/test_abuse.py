"""Guessing resistance: the per-account sign-in lock, per-client limits and batching, in-process and on Redis.

Every sign-in goes through the ASGI app; each test speaks from its own client addresses so tests do not
share per-client counters. The Redis variants use one key prefix per run and delete it afterwards.
"""

from __future__ import annotations

import asyncio
import random
import socket
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from portal.core.runtime import Runtime
from portal.core.throttle import FallbackStore, Limit, MemoryStore
from portal.identity.signin import LOCK_AFTER, SIGNIN_BACKOFF, account_key, clear_signin_lock
from tests.helpers import LOGIN, PASSWORD, Surface, make_settings, need_service, random_ip, unique

REDIS_URL = "redis://127.0.0.1:6379/0"
RUN_PREFIX = f"portal-test-{uuid.uuid4().hex[:12]}:"
WRONG = "definitely not the password"


def redis_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="module", autouse=True)
def _drop_redis_keys() -> Iterator[None]:
    yield
    if redis_available():
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=RUN_PREFIX + "*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


class Portal(Surface):
    """One replica: an app over its own runtime (its own throttle store), spoken to from any address."""

    async def login(self, identifier: str, password: str, ip: str | None = None) -> dict[str, Any]:
        response = await self.post({"query": LOGIN, "variables": {"identifier": identifier, "password": password}}, ip)
        assert response.status_code == 200, response.text
        return response.json()["data"]["login"]


@pytest.fixture
async def portal_factory(data_dir, database_url, clock, database, smtp_sink):  # type: ignore[no-untyped-def]
    """Builds replicas; `store="redis"` shares one Redis prefix between every replica of the test."""
    prefix = f"{RUN_PREFIX}{uuid.uuid4().hex[:8]}:"
    stores: list[FallbackStore] = []

    def build(store: str = "memory", **overrides: Any) -> Portal:
        if store == "redis":
            need_service(redis_available(), "Redis is not running on 127.0.0.1:6379")
            overrides |= {"redis_url": REDIS_URL, "redis_key_prefix": prefix}
        rt = Runtime(make_settings(data_dir, database_url, smtp_sink.port, **overrides), clock)
        if isinstance(rt.throttle.store, FallbackStore):
            stores.append(rt.throttle.store)
        return Portal(rt)

    yield build
    for store in stores:
        await store.close()


STORES = ["memory", "redis"]


def retry_after(answer: dict[str, Any]) -> int:
    assert answer["__typename"] == "TooManyAttempts", answer
    return int(answer["retryAfterSeconds"])


@pytest.mark.parametrize("store", STORES)
async def test_failures_lock_the_account_whatever_the_address(store, portal_factory, make_account, clock):
    portal = portal_factory(store)
    account = await make_account()
    # Each guess from a fresh address: the count is the account's, never the address's.
    for n in range(1, LOCK_AFTER + 1):
        assert (await portal.login(account.email, WRONG))["__typename"] == "InvalidCredentials", n
        wait = SIGNIN_BACKOFF.wait_after(n)
        if wait:
            blocked = await portal.login(account.email, PASSWORD)  # even the right password waits
            assert retry_after(blocked) == wait, n
            if n < LOCK_AFTER:
                clock.advance(wait)
    # Locked for 15 minutes after the 10th consecutive failure.
    assert SIGNIN_BACKOFF.wait_after(LOCK_AFTER) == 900
    assert retry_after(await portal.login(account.email, PASSWORD)) == 900
    clock.advance(600)
    assert 299 <= retry_after(await portal.login(account.email, PASSWORD)) <= 300
    clock.advance(301)
    ok = await portal.login(account.email, PASSWORD)
    assert ok["__typename"] == "LoginSuccess", ok
    # The success reset the count: four free failures again, then the growing waits.
    for _ in range(4):
        assert (await portal.login(account.email, WRONG))["__typename"] == "InvalidCredentials"
    assert (await portal.login(account.email, PASSWORD))["__typename"] == "LoginSuccess"
    assert await portal.rt.throttle.failures(SIGNIN_BACKOFF, account_key(account.id, "email")) == 0


@pytest.mark.parametrize("store", STORES)
async def test_clear_signin_lock_lifts_the_lock(store, portal_factory, make_account, clock):
    portal = portal_factory(store)
    account = await make_account()
    for n in range(1, LOCK_AFTER + 1):
        assert (await portal.login(account.email, WRONG))["__typename"] == "InvalidCredentials"
        if n < LOCK_AFTER:
            clock.advance(SIGNIN_BACKOFF.wait_after(n))
    assert retry_after(await portal.login(account.email, PASSWORD)) == 900
    await clear_signin_lock(portal.rt, account.id)  # what a completed password reset calls
    assert (await portal.login(account.email, PASSWORD))["__typename"] == "LoginSuccess"


async def test_a_completed_reset_lifts_the_lock(portal_factory, make_account, clock, smtp_sink):
    """The locked resident can still reset, and the completed reset opens the door (docs/security.md #15)."""
    from tests.helpers import drain, token_from

    portal = portal_factory()
    account = await make_account()
    for n in range(1, LOCK_AFTER + 1):
        await portal.login(account.email, WRONG)
        if n < LOCK_AFTER:
            clock.advance(SIGNIN_BACKOFF.wait_after(n))
    assert retry_after(await portal.login(account.email, PASSWORD)) == 900
    new_password = "a brand new passphrase " + unique()
    asked = await portal.post({"query": "mutation($i:String!){requestPasswordReset(identifier:$i){__typename}}",
                               "variables": {"i": account.email}})
    assert asked.json()["data"]["requestPasswordReset"]["__typename"] == "PasswordResetRequested", asked.text
    await drain(portal.rt)
    token = token_from((await smtp_sink.wait_for(account.email))[-1])
    done = await portal.post(
        {
            "query": "mutation($t:String!,$p:String!){resetPassword(token:$t,newPassword:$p,"
            "newPasswordConfirmation:$p){__typename}}",
            "variables": {"t": token, "p": new_password},
        }
    )
    assert done.json()["data"]["resetPassword"]["__typename"] == "PasswordResetSucceeded", done.text
    assert (await portal.login(account.email, new_password))["__typename"] == "LoginSuccess"


@pytest.mark.parametrize("store", STORES)
async def test_concurrent_wrong_sign_ins_stay_within_the_threshold(store, portal_factory, make_account, clock):
    # Two replicas sharing the store (Redis), or one process (memory): 100 guesses at once, 100 addresses.
    first = portal_factory(store)
    second = portal_factory(store) if store == "redis" else first
    account = await make_account()
    replicas = [first, second]
    answers = await asyncio.gather(*(replicas[i % 2].login(account.email, WRONG) for i in range(100)))
    kinds = Counter(a["__typename"] for a in answers)
    assert kinds["InvalidCredentials"] <= LOCK_AFTER
    assert kinds == {"InvalidCredentials": 5, "TooManyAttempts": 95}, kinds  # 4 free, the 5th starts a wait
    assert await first.rt.throttle.failures(SIGNIN_BACKOFF, account_key(account.id, "email")) == 5
    # Keep guessing, honouring every wait: the lock comes at exactly the 10th failure.
    failures = 5
    while True:
        clock.advance(SIGNIN_BACKOFF.wait_after(failures))
        burst = await asyncio.gather(*(first.login(account.email, WRONG) for _ in range(20)))
        failed = sum(a["__typename"] == "InvalidCredentials" for a in burst)
        assert failed == 1, burst
        failures += 1
        if failures == LOCK_AFTER:
            break
    assert await first.rt.throttle.failures(SIGNIN_BACKOFF, account_key(account.id, "email")) == LOCK_AFTER
    assert retry_after(await second.login(account.email, PASSWORD)) == 900


async def test_unknown_identifiers_lock_alike_and_leave_nothing_behind(portal_factory, make_account, clock):
    portal = portal_factory()
    real = await make_account()
    ghost = f"{unique('later')}@example.ru"

    async def guess_until_locked(identifier: str) -> list[str]:
        seen = []
        for n in range(1, LOCK_AFTER + 1):
            seen.append((await portal.login(identifier, WRONG))["__typename"])
            wait = SIGNIN_BACKOFF.wait_after(n)
            if wait:
                seen.append(f"wait {retry_after(await portal.login(identifier, WRONG))}")
            if n < LOCK_AFTER:
                clock.advance(wait)
        return seen

    # An attacker sees the same schedule for an account and for an identifier nobody has.
    assert await guess_until_locked(real.email) == await guess_until_locked(ghost.upper())
    # The identifier is then registered: its owner signs in at once, no inherited lock.
    account = await make_account(email=ghost)
    assert (await portal.login(ghost, PASSWORD))["__typename"] == "LoginSuccess"
    assert await portal.rt.throttle.failures(SIGNIN_BACKOFF, account_key(account.id, "email")) == 0


async def test_a_lock_on_one_identifier_says_nothing_about_the_accounts_others(portal_factory, make_account, clock):
    """Issue 14 item 7: after the e-mail is locked, the same account's phone and login answer exactly like
    a phone and a login nobody has, step by step, so no pair of identifiers can be linked."""
    portal = portal_factory()
    phone = f"+7912{random.randint(0, 9_999_999):07d}"
    account = await make_account(phone=phone, login=unique("linked"))
    for n in range(1, LOCK_AFTER + 1):
        await portal.login(account.email, WRONG)
        if n < LOCK_AFTER:
            clock.advance(SIGNIN_BACKOFF.wait_after(n))
    assert retry_after(await portal.login(account.email, WRONG)) == 900  # the e-mail is locked

    strangers = {phone: f"+7913{random.randint(0, 9_999_999):07d}", account.login: unique("nobody")}
    for mine, nobodys in strangers.items():
        for n in range(1, 7):  # through the free failures and into the first waits
            answers = [await portal.login(identifier, WRONG) for identifier in (mine, nobodys)]
            assert answers[0] == answers[1], (n, answers)
            clock.advance(SIGNIN_BACKOFF.wait_after(n))
    # The owner still gets in by the phone; a success lifts every lock of the account, the e-mail's too.
    clock.advance(max(SIGNIN_BACKOFF.delays))
    assert (await portal.login(phone, PASSWORD))["__typename"] == "LoginSuccess"
    assert (await portal.login(account.email, PASSWORD))["__typename"] == "LoginSuccess"


SENSITIVE_PAIRS = [
    # aliases
    'mutation { a: login(identifier: "{e}", password: "x1") { __typename } '
    'b: login(identifier: "{e}", password: "x2") { __typename } }',
    # fragments and inline fragments
    'mutation { ...A ...on Mutation { b: login(identifier: "{e}", password: "x2") { __typename } } } '
    'fragment A on Mutation { a: login(identifier: "{e}", password: "x1") { __typename } }',
    # nested fragments
    "mutation { ...A } fragment A on Mutation { ...B r: refreshSession(refreshToken: \"t\") { __typename } } "
    'fragment B on Mutation { login(identifier: "{e}", password: "x1") { __typename } }',
    # two operations in one document
    'mutation One { login(identifier: "{e}", password: "x1") { __typename } } '
    'mutation Two { login(identifier: "{e}", password: "x2") { __typename } }',
    # two different sensitive doors
    'mutation { login(identifier: "{e}", password: "x1") { __typename } '
    'requestPasswordReset(identifier: "{e}") { __typename } }',
    'mutation { resetPassword(token: "t", newPassword: "p", newPasswordConfirmation: "p") { __typename } '
    'exchangeLoginCode(code: "c") { __typename } }',
    'mutation { login(identifier: "{e}", password: "x1") { __typename } submitSupportTicket(input: {fullName: "a", '
    'registrationAddress: "b", phone: "+79120000000", accountIdentifier: "{e}", description: "d", '
    "personalDataConsent: true}) { __typename } }",
]


@pytest.mark.parametrize("document", SENSITIVE_PAIRS)
async def test_aliases_fragments_and_batches_cannot_multiply_guesses(document, portal_factory, make_account):
    portal = portal_factory()
    account = await make_account()
    body = {"query": document.replace("{e}", account.email)}
    if "mutation One" in document:
        body["operationName"] = "One"
    response = await portal.post(body)
    assert response.status_code == 400, response.text
    codes = [e["extensions"]["code"] for e in response.json()["errors"]]
    assert "ONE_SENSITIVE_FIELD_PER_REQUEST" in codes, response.text
    assert response.json()["data"] is None
    # Nothing ran: no attempt was counted against the account.
    assert await portal.rt.throttle.failures(SIGNIN_BACKOFF, account_key(account.id, "email")) == 0


async def test_json_array_batching_is_refused_and_one_field_still_works(portal_factory, make_account):
    portal = portal_factory()
    account = await make_account()
    one = {"query": LOGIN, "variables": {"identifier": account.email, "password": WRONG}}
    batch = await portal.post([one, one, one])
    assert batch.status_code == 400 and batch.json()["errors"][0]["extensions"]["code"] == "BATCHING_NOT_SUPPORTED"
    assert await portal.rt.throttle.failures(SIGNIN_BACKOFF, account_key(account.id, "email")) == 0
    # `me { login }` is a plain field, not the sign-in door; one door plus plain fields is fine.
    ok = await portal.post({"query": "mutation M { login(identifier: \"x@example.ru\", password: \"y\") "
                            "{ __typename } } query Q { me { login } }", "operationName": "Q"})
    assert ok.status_code == 200 and ok.json()["data"] == {"me": None}, ok.text


async def test_per_client_failures_are_limited_on_top(portal_factory, make_account, clock):
    portal = portal_factory(signin_client_max_failures=3)
    attacker, neighbour = random_ip(), random_ip()
    victim = await make_account()
    for _ in range(3):  # three different accounts: no per-account wait yet
        assert (await portal.login(f"{unique()}@example.ru", WRONG, attacker))["__typename"] == "InvalidCredentials"
    blocked = await portal.login(victim.email, PASSWORD, attacker)
    assert 599 <= retry_after(blocked) <= 600
    assert (await portal.login(victim.email, PASSWORD, neighbour))["__typename"] == "LoginSuccess"
    clock.advance(601)
    assert (await portal.login(victim.email, PASSWORD, attacker))["__typename"] == "LoginSuccess"


@pytest.mark.parametrize("store", STORES)
async def test_forwarded_for_counts_only_behind_a_trusted_proxy(store, portal_factory, make_account):
    portal = portal_factory(store, signin_client_max_failures=2, trusted_proxies="10.0.0.0/8, 192.168.7.1")
    account = await make_account()
    proxy = "10.20.30.40"
    real_client = f"203.0.113.{random.randint(1, 254)}"

    async def attempt(peer: str, forwarded: str | None, password: str = WRONG) -> str:
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        body = {"query": LOGIN, "variables": {"identifier": f"{unique()}@example.ru", "password": password}}
        if password == PASSWORD:
            body["variables"]["identifier"] = account.email
        response = await portal.post(body, peer, headers=headers)
        return response.json()["data"]["login"]["__typename"]

    # Behind the trusted proxy, the right-most untrusted hop is the client; what it prepends is not believed.
    assert await attempt(proxy, f"198.51.100.1, {real_client}") == "InvalidCredentials"
    assert await attempt(proxy, f"198.51.100.2, {real_client}, 192.168.7.1") == "InvalidCredentials"
    assert await attempt(proxy, real_client, PASSWORD) == "TooManyAttempts"
    assert await attempt(proxy, "203.0.113.255", PASSWORD) == "LoginSuccess"  # another client behind the proxy
    # A malformed chain is not believed: the proxy itself is the client.
    assert await attempt(proxy, "not-an-ip", PASSWORD) == "LoginSuccess"
    # An untrusted peer cannot pick its address: a new X-Forwarded-For each time, still one client.
    stranger = f"198.51.100.{random.randint(3, 254)}"
    assert await attempt(stranger, "1.1.1.1") == "InvalidCredentials"
    assert await attempt(stranger, "2.2.2.2") == "InvalidCredentials"
    assert await attempt(stranger, "3.3.3.3", PASSWORD) == "TooManyAttempts"


@pytest.mark.parametrize("store", STORES)
async def test_stores_are_atomic_and_agree(store, portal_factory, clock):
    """The building block itself: a sliding window and a backoff, 100 concurrent callers."""
    throttle = portal_factory(store).rt.throttle
    assert isinstance(throttle.store, MemoryStore if store == "memory" else FallbackStore)
    limit = Limit(f"t{unique()}", 10, 60)
    results = await asyncio.gather(*(throttle.hit(limit, "k") for _ in range(100)))
    assert sum(r is None for r in results) == 10
    assert (await throttle.check(limit, "k")).retry_after_seconds == 60
    clock.advance(61)
    assert await throttle.check(limit, "k") is None
    assert await throttle.hit(limit, None) is None  # no address: not limited (and not counted)
    reservations = await asyncio.gather(*(throttle.attempt(SIGNIN_BACKOFF, "concurrent") for _ in range(100)))
    assert sum(r is None for r in reservations) == 5
    assert await throttle.failures(SIGNIN_BACKOFF, "concurrent") == 5
    await throttle.reset(limit, "k")
    await throttle.clear(SIGNIN_BACKOFF, "concurrent")
    assert await throttle.failures(SIGNIN_BACKOFF, "concurrent") == 0
    # The hard limit: after 100 consecutive failures the key stays locked for a day.
    for n in range(1, 101):
        assert await throttle.attempt(SIGNIN_BACKOFF, "hard") is None, n
        clock.advance(SIGNIN_BACKOFF.wait_after(n))
    assert SIGNIN_BACKOFF.wait_after(100) == 24 * 3600
    clock.advance(-24 * 3600 + 10)
    assert (await throttle.attempt(SIGNIN_BACKOFF, "hard")).retry_after_seconds == 24 * 3600 - 10


def test_the_backoff_schedule():
    waits = [SIGNIN_BACKOFF.wait_after(n) for n in range(1, 13)]
    assert waits == [0, 0, 0, 0, 2, 4, 8, 16, 32, 900, 900, 900]
    assert SIGNIN_BACKOFF.wait_after(99) == 900 and SIGNIN_BACKOFF.wait_after(100) == 86400


