"""The hot paths' one-row reads (a session by its token's hash, an account by what a resident typed), in the
fewest hops to the database.

On SQLite, aiosqlite runs every statement on its own thread: the hand-off there and back cost 60-170 µs of
CPU, while the indexed read itself costs about 6 µs. So outside a transaction, a read on a file database
runs right here, on the event loop's thread, through a connection of this thread's own:

- the database is in WAL mode (Tortoise's default), where a reader never waits for the writer and each
  statement sees every transaction committed before it began: a session revoked, by this process or
  another, is seen revoked by the very next read;
- `fetchall()` runs every statement to its end, so no read transaction (no old snapshot) outlives it;
- the connection never waits (`timeout=0`) and never writes (`query_only`): if SQLite answers busy (only
  while a crashed writer's WAL is being recovered) the read goes the usual way, through aiosqlite.

Inside a transaction a read must see the transaction's own writes, so it goes through the transaction's
connection; on PostgreSQL (and an in-memory SQLite database) through the client, as always.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from pathlib import Path
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.backends.sqlite.client import SqliteClient

# Tortoise's client -> a read connection to its file per thread (gone with the client). Keyed by the thread's
# id, which a later thread may reuse: hence check_same_thread=False, though no two live threads share one.
_readers: weakref.WeakKeyDictionary[BaseDBAsyncClient, dict[int, sqlite3.Connection]] = weakref.WeakKeyDictionary()


async def fetch_rows(sql: str, values: list[Any]) -> list[Any]:
    """The rows of one short read (each one `dict(row)` takes), `?` placeholders on SQLite, `$n` on PostgreSQL."""
    client = connections.get("default")
    try:
        reader = _reader(client)
        if reader is not None:
            rows: list[Any] = reader.execute(sql, values).fetchall()
            return rows
    except sqlite3.OperationalError:  # busy, or the file is away: aiosqlite's way answers or raises
        pass
    _, found = await client.execute_query(sql, values)
    return list(found)


def _reader(client: BaseDBAsyncClient) -> sqlite3.Connection | None:
    if not isinstance(client, SqliteClient) or isinstance(client, TransactionalDBClient):
        return None
    filename = str(client.filename)
    if filename == ":memory:" or filename.startswith("file:"):
        return None  # an in-memory database is the client's connection's alone
    own = _readers.setdefault(client, {})
    thread = threading.get_ident()
    if thread not in own:
        connection = sqlite3.connect(
            Path(filename).resolve().as_uri(), uri=True, timeout=0, isolation_level=None, check_same_thread=False
        )
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA query_only = ON")
        own[thread] = connection
    return own[thread]
