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

`data_version()` tells whether anything at all was committed to the file since an earlier call: SQLite's
`PRAGMA data_version` on the reader changes whenever any other connection (this process's writer, another
process, an operator's `sqlite3` shell) commits, and the reader never commits itself. Read before a row and
unchanged at a later request, it proves the row still stands as read (identity/sessions.py keeps session rows
on that proof: ~4 µs for the pragma against ~20 µs for the row).
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
import weakref
from pathlib import Path
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.backends.sqlite.client import SqliteClient


class _Reader(sqlite3.Connection):
    """A read connection with a serial number: a data version means something only on the connection that read it."""

    serial = 0


# Tortoise's client -> a read connection to its file per thread (gone with the client). Keyed by the thread's
# id, which a later thread may reuse: hence check_same_thread=False, though no two live threads share one.
_readers: weakref.WeakKeyDictionary[BaseDBAsyncClient, dict[int, _Reader]] = weakref.WeakKeyDictionary()
_serials = itertools.count(1)

Version = tuple[int, int]  # (the reader's serial, its PRAGMA data_version)


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


def data_version() -> Version | None:
    """Differs from an earlier call's answer exactly when something was committed to the database file in between
    (see above); None where reads do not go through this thread's reader (PostgreSQL, an in-memory database, a
    transaction) or the file does not answer at once."""
    try:
        reader = _reader(connections.get("default"))
        if reader is None:
            return None
        (version,) = reader.execute("PRAGMA data_version").fetchone()
    except sqlite3.OperationalError:
        return None
    return reader.serial, int(version)


def _reader(client: BaseDBAsyncClient) -> _Reader | None:
    if not isinstance(client, SqliteClient) or isinstance(client, TransactionalDBClient):
        return None
    filename = str(client.filename)
    if filename == ":memory:" or filename.startswith("file:"):
        return None  # an in-memory database is the client's connection's alone
    own = _readers.setdefault(client, {})
    thread = threading.get_ident()
    if thread not in own:
        connection = sqlite3.connect(
            Path(filename).resolve().as_uri(),
            uri=True,
            timeout=0,
            isolation_level=None,
            check_same_thread=False,
            factory=_Reader,
        )
        connection.serial = next(_serials)
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA query_only = ON")
        own[thread] = connection
    return own[thread]
