"""The per-process session cache (core/session_cache.py) and the PostgreSQL feed that keeps it honest
(models/changes.py). Across real replicas: tests/test_replicas.py."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest

from portal.core.client import ClientInfo
from portal.core.runtime import Runtime
from portal.core.session_cache import SessionCache
from portal.identity.sessions import authenticate, issue_session
from portal.models.accounts import Account, AccountStatus
from portal.models.changes import APPLICATION_NAME, SessionChangeFeed
from tests.helpers import unique

ROW = ({"id": "s"}, {"id": "a"})


def on() -> SessionCache:
    cache = SessionCache(max_entries=3)
    cache.switch(True)
    return cache


def test_the_cache_keeps_nothing_while_off_or_when_a_change_raced_the_read():
    cache = SessionCache()
    cache.put("k", "a", ROW, cache.generation)
    assert cache.get("k") is None and len(cache) == 0  # off: the database is read every time
    cache = on()
    before = cache.generation
    cache.changed("someone else")  # a notice arrived while the row was being read
    cache.put("k", "a", ROW, before)
    assert cache.get("k") is None
    cache.put("k", "a", ROW, cache.generation)
    assert cache.get("k") == ROW


def test_a_change_drops_every_row_of_that_account_and_only_those():
    cache = on()
    cache.put("one", "a", ROW, cache.generation)
    cache.put("two", "a", ROW, cache.generation)
    cache.put("three", "b", ROW, cache.generation)
    cache.changed("a")
    assert (cache.get("one"), cache.get("two"), cache.get("three")) == (None, None, ROW)
    cache.switch(False)
    cache.switch(True)
    assert cache.get("three") is None  # back on after a failure: it starts empty


def test_the_cache_is_bounded_and_drops_its_oldest_row():
    cache = on()
    for n in range(5):
        cache.put(f"k{n}", f"a{n}", ROW, cache.generation)
    assert len(cache) == 3 and cache.get("k0") is None and cache.get("k4") == ROW
    cache.changed("a0")  # its key was evicted already: nothing left behind to trip over
    assert len(cache) == 3


async def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()


@pytest.fixture
async def cached(rt: Runtime, on_postgres: bool) -> AsyncIterator[Runtime]:
    """A runtime of its own whose cache is fed from PostgreSQL, as in `portal serve`."""
    if not on_postgres:
        pytest.skip("the change feed is PostgreSQL's (LISTEN/NOTIFY); on SQLite the cache stays off")
    own = Runtime(rt.settings, rt.clock)
    task = asyncio.create_task(SessionChangeFeed(rt.settings.database_url, own.session_cache).run())
    assert await wait_for(lambda: own.session_cache.enabled)
    yield own
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_a_session_changed_by_anyone_is_read_again_at_once(cached: Runtime, make_account):
    account = await make_account()
    issued = await issue_session(cached, account, ClientInfo("127.0.0.1", None))
    assert await authenticate(cached, issued.access_token) is not None
    assert len(cached.session_cache) == 1  # the next request needs no database trip
    served = await authenticate(cached, issued.access_token)
    assert served.account.full_name == account.full_name
    served.account.full_name = "changed in one request, never saved"  # another request must not see it
    assert (await authenticate(cached, issued.access_token)).account.full_name == account.full_name

    # Any writer (the trigger tells); the very next read sees it, with no wait in between.
    for _ in range(20):
        name = f"Пётр Иванов {unique('n')}"
        await Account.filter(id=account.id).update(full_name=name)
        assert (await authenticate(cached, issued.access_token)).account.full_name == name
        assert len(cached.session_cache) == 1  # read again from the database, kept again

    await Account.filter(id=account.id).update(status=AccountStatus.DISABLED)
    assert await authenticate(cached, issued.access_token) is None


async def test_the_cache_turns_off_when_the_feed_loses_its_connection_and_back_on_empty(
    cached: Runtime, make_account, database_url: str
):
    account = await make_account()
    issued = await issue_session(cached, account, ClientInfo("127.0.0.1", None))
    await authenticate(cached, issued.access_token)
    assert len(cached.session_cache) == 1
    admin = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1))
    try:
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            APPLICATION_NAME,
        )
    finally:
        await admin.close()
    assert killed >= 1
    assert await wait_for(lambda: not cached.session_cache.enabled, seconds=2)
    assert len(cached.session_cache) == 0
    assert await authenticate(cached, issued.access_token) is not None  # read from the database meanwhile
    assert await wait_for(lambda: cached.session_cache.enabled)  # it listens again (retry every second)
