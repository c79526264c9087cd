"""PostgreSQL tells every process when a session or an account changes: triggers and `LISTEN`.

The triggers (created by `portal migrate`, see `api/db.py`) notify on every `UPDATE` and `DELETE` of
`sessions` and `accounts`, whatever wrote it (a GraphQL call on another replica, `portal staff`, a
migration, an operator's SQL). The notification is sent when the writing transaction commits, with the
account's id as its payload. `SessionChangeFeed` listens on one connection of its own and keeps the
process's session cache (core/session_cache.py) honest: on only while it listens, off at the first sign
of trouble, back on (empty) once it listens again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg
from tortoise.backends.base.config_generator import expand_db_url

from portal.core.session_cache import SessionCache

log = logging.getLogger("portal.sessions")

CHANNEL = "portal_session_changes"
TRIGGERS = ("portal_sessions_changed", "portal_accounts_changed")

POSTGRES_TRIGGERS = (
    # OLD: an UPDATE's account is the same before and after (nothing moves a session to another account).
    # Two branches, not a CASE: PL/pgSQL plans a statement when it first runs, and `accounts` has no account_id.
    f"""CREATE OR REPLACE FUNCTION portal_session_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'accounts' THEN
        PERFORM pg_notify('{CHANNEL}', OLD.id::text);
    ELSE
        PERFORM pg_notify('{CHANNEL}', OLD.account_id::text);
    END IF;
    RETURN NULL;
END $$""",
    f"CREATE OR REPLACE TRIGGER {TRIGGERS[0]} AFTER UPDATE OR DELETE ON sessions "
    "FOR EACH ROW EXECUTE FUNCTION portal_session_changed()",
    f"CREATE OR REPLACE TRIGGER {TRIGGERS[1]} AFTER UPDATE OR DELETE ON accounts "
    "FOR EACH ROW EXECUTE FUNCTION portal_session_changed()",
)

APPLICATION_NAME = "portal session change feed"  # how an operator tells its connection in pg_stat_activity
HEARTBEAT_SECONDS = 5.0  # a connection that hangs without closing is noticed this fast
RETRY_SECONDS = 1.0


class SessionChangeFeed:
    def __init__(self, database_url: str, cache: SessionCache) -> None:
        self.cache = cache
        self._credentials = expand_db_url(database_url)["credentials"]
        self._connection: Any = None  # the listening connection while it is up
        self._rounds = 0  # round trips started on it so far
        self._round: asyncio.Future[None] | None = None  # the one in flight, number `self._rounds`
        cache.catch_up = self.caught_up

    async def caught_up(self) -> bool:
        """True once every change committed before this call has reached the cache; False if the channel is down.

        A notice is signalled to the listening backend when its transaction commits, and PostgreSQL sends a
        listener its pending notices before it answers the listener's next query. So a round trip on the
        listening connection that begins after this call brings every notice committed before it, and asyncpg
        runs their callbacks before the round trip's caller resumes. Concurrent callers share round trips: each
        waits for the first one that began after it arrived (under load, one trip serves a batch of requests).
        """
        arrived = self._rounds
        while True:
            if self._connection is None:
                return False
            if self._round is None or self._round.done():
                self._rounds += 1
                self._round = asyncio.ensure_future(self._connection.fetchval("SELECT 1", timeout=HEARTBEAT_SECONDS))
            number, current = self._rounds, self._round
            try:
                await asyncio.shield(current)
            except Exception:  # noqa: BLE001 - the channel failed: the database is asked instead (run() turns it off)
                return False
            if number > arrived:
                return self.cache.enabled

    async def run(self) -> None:
        """Listens until cancelled; reconnects after a failure (the cache stays off meanwhile)."""
        while True:
            connection: Any = None
            try:
                connection = await self._connect()
                if connection is None:
                    return  # no triggers (an old PostgreSQL, or not migrated): the cache stays off for good
                await self._listen(connection)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure of the channel turns the cache off, then retries
                if self.cache.enabled:
                    log.warning("session change feed lost (%s): every session is read from the database", exc)
            finally:
                self.cache.switch(False)
                if connection is not None and not connection.is_closed():
                    connection.terminate()
            await asyncio.sleep(RETRY_SECONDS)

    async def _connect(self) -> Any:
        c = self._credentials
        connection = await asyncpg.connect(
            host=c.get("host"), port=c.get("port"), user=c.get("user"), password=c.get("password"),
            database=c.get("database"), timeout=5, server_settings={"application_name": APPLICATION_NAME},
        )
        present = await connection.fetchval("SELECT count(*) FROM pg_trigger WHERE tgname = ANY($1::text[])", TRIGGERS)
        if present != len(TRIGGERS):
            log.warning("session change triggers missing (run `portal migrate`): sessions are not cached")
            await connection.close()
            return None
        return connection

    async def _listen(self, connection: Any) -> None:
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _c: lost.set())
        await connection.add_listener(CHANNEL, self._on_change)
        self._connection, self._round = connection, None
        try:
            self.cache.switch(True)  # only now: every change from here on reaches us
            while not lost.is_set():
                if not await self.caught_up():  # the heartbeat: a round trip like any request's
                    raise ConnectionError("the listening connection does not answer")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), timeout=HEARTBEAT_SECONDS)
            raise ConnectionError("the listening connection closed")
        finally:
            self._connection = None

    def _on_change(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        self.cache.changed(payload)
