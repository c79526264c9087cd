"""A per-process cache of the session rows that every authenticated request reads, revocation kept immediate.

It is only ever on while a change feed (`models/changes.py`: PostgreSQL triggers and `LISTEN`) reports
every change to a session or an account, on whichever replica or process it was made, and a row is served
only after the feed has caught up with every change committed before the request (`get_current`):

- the feed turns it on only after its `LISTEN` is in place, and off (dropping every entry) the moment its
  connection fails; while it is off every read goes to the database, so a lost channel costs speed, never
  a revoked session that still works;
- a change drops every entry of that account at once (a session revoked, signed out, expired by a
  password change; the account disabled, its e-mail or name changed);
- a row read from the database is kept only if no change arrived while it was being read (`generation`),
  so a read that raced a revocation is not cached;
- every request gets its own copies of the instances kept, so nothing a request does to its objects
  reaches another request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from portal.core.metrics import SESSION_CACHE_ON

Row = tuple[Any, Any]  # (session, account) as read: model instances the reader copies before handing them out

MAX_ENTRIES = 20_000  # ~1.5 KB a row: bounded at ~30 MB however many tokens a client sprays


class SessionCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self.enabled = False
        # Set by the feed: True once every change committed before the call has arrived (False: ask the database).
        self.catch_up: Callable[[], Awaitable[bool]] | None = None
        self.generation = 0  # moves on every change the feed reports and every switch on or off
        self._rows: dict[str, tuple[str, Row]] = {}  # key -> (account id, row)
        self._keys_of: dict[str, set[str]] = {}  # account id -> its keys

    def get(self, key: str) -> Row | None:
        entry = self._rows.get(key) if self.enabled else None
        return entry[1] if entry else None

    async def get_current(self, key: str) -> Row | None:
        """The row kept for `key`, once every change committed before this call has been applied."""
        if self.get(key) is None or self.catch_up is None or not await self.catch_up():
            return None
        return self.get(key)  # a change that just arrived may have dropped it

    def put(self, key: str, account_id: str, row: Row, generation: int) -> None:
        """Keeps `row` if the cache is on and nothing changed since `generation` was read (before the row)."""
        if not self.enabled or generation != self.generation:
            return
        if len(self._rows) >= self.max_entries:
            self._evict(next(iter(self._rows)))  # the oldest: a dict keeps insertion order
        self._rows[key] = (account_id, row)
        self._keys_of.setdefault(account_id, set()).add(key)

    def changed(self, account_id: str) -> None:
        """A session or the account itself changed: none of its rows may be served again."""
        self.generation += 1
        for key in self._keys_of.pop(account_id, ()):
            self._rows.pop(key, None)

    def switch(self, on: bool) -> None:
        """On once the feed listens, off when it fails; either way what was kept is dropped."""
        self.generation += 1
        self._rows.clear()
        self._keys_of.clear()
        self.enabled = on
        SESSION_CACHE_ON.set(int(on))

    def __len__(self) -> int:
        return len(self._rows)

    def _evict(self, key: str) -> None:
        account_id, _ = self._rows.pop(key)
        keys = self._keys_of.get(account_id)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._keys_of[account_id]
