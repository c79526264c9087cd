"""A few parameterised writes as one atomic unit, in the fewest trips to the database, for the hot paths.

Why: through the ORM each statement costs its own query building, model instance and trip (on SQLite a
hand-off to aiosqlite's thread, about 60-100 µs of CPU each; a Tortoise transaction adds three more hops
for BEGIN and COMMIT; on PostgreSQL a round trip each, plus BEGIN and COMMIT). A sign-in or a reset request
writes 3-4 rows that belong together, so:

- PostgreSQL: the statements become one statement, `WITH s0 AS (<insert>), s1 AS (<update>) <insert>`.
  PostgreSQL runs every data-modifying `WITH` part exactly once and the whole statement is atomic; foreign
  keys are checked at its end, so a row may reference one inserted by an earlier part.
- SQLite: `BEGIN`, the statements and `COMMIT` run in one hand-off to aiosqlite's thread, while holding
  the Tortoise client's lock (the one its transactions hold), so nothing else interleaves.

A transaction that must do work between its writes (a ticket: the throttle counts it once its insert
succeeded, then its letters are written) runs in steps (`in_steps`): a statement of CTEs per step on
PostgreSQL between `BEGIN` and `COMMIT`, one hand-off per step on SQLite with `BEGIN` riding on the first
and `COMMIT` on the last.

Inside an open `in_transaction()` the statements simply join it. SQL is built once from the models'
metadata, with `?` placeholders (renumbered `$n` for PostgreSQL); values go through the fields' own
`to_db_value`, as the ORM does.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from tortoise import connections
from tortoise.backends.base.client import TransactionalDBClient
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.fields import DatetimeField
from tortoise.models import Model

MODEL = TypeVar("MODEL", bound=Model)
P = ParamSpec("P")


@dataclass(frozen=True, slots=True)
class Statement:
    """One parameterised write: SQL with `?` placeholders, its values already converted for the database."""

    sql: str
    values: tuple[Any, ...]


class InsertRow:
    """`INSERT INTO <model's table> (<columns>) VALUES (?, …)`; `row(**values)` makes a Statement.

    The one writer of a table's rows: a service's lone write and its batched writes use the same statement.

    Built on first use, not at import: foreign-key columns (`account_id`) exist only once Tortoise is initialised.
    """

    def __init__(self, model: type[Model], fields: Sequence[str], *, ignore_conflicts: bool = False) -> None:
        self.model = model
        self.fields = tuple(fields)
        self.ignore_conflicts = ignore_conflicts  # ON CONFLICT DO NOTHING (SQLite 3.24+ and PostgreSQL alike)
        self._names = frozenset(self.fields)
        self._built: tuple[str, tuple[Any, ...]] | None = None

    def _build(self) -> tuple[str, tuple[Any, ...]]:
        meta = self.model._meta
        convert = tuple(meta.fields_map[name].to_db_value for name in self.fields)
        columns = ", ".join(f'"{meta.fields_db_projection[name]}"' for name in self.fields)
        marks = ", ".join("?" for _ in self.fields)
        sql = f'INSERT INTO "{meta.db_table}" ({columns}) VALUES ({marks})'  # noqa: S608 - names from metadata
        if self.ignore_conflicts:
            sql += " ON CONFLICT DO NOTHING"
        self._built = sql, convert
        return self._built

    def row(self, **values: Any) -> Statement:
        if values.keys() != self._names:
            raise TypeError(f"{self.model.__name__}: expected {sorted(self.fields)}, got {sorted(values)}")
        sql, convert = self._built or self._build()
        model = self.model
        return Statement(sql, tuple(c(values[name], model) for name, c in zip(self.fields, convert, strict=True)))


_DATETIME_COLUMNS: dict[type[Model], tuple[str, ...]] = {}


def hydrate(model: type[MODEL], row: dict[str, Any]) -> MODEL:
    """A model instance from a row read with hand-written SQL (column names as keys), as the ORM would build it.

    SQLite returns datetimes as text; `datetime.fromisoformat` reads Tortoise's format in a fraction of
    the time of the generic ISO-8601 parser Tortoise uses (the largest single cost of reading a session).
    """
    columns = _DATETIME_COLUMNS.get(model)
    if columns is None:
        meta = model._meta
        columns = tuple(
            meta.fields_db_projection[name] for name, f in meta.fields_map.items() if isinstance(f, DatetimeField)
        )
        _DATETIME_COLUMNS[model] = columns
    for column in columns:
        value = row.get(column)
        if isinstance(value, str):
            try:
                row[column] = datetime.fromisoformat(value)
            except ValueError:
                pass  # left to Tortoise's own parser
    return model._init_from_db(**row)


def numbered(sql: str, start: int = 0) -> tuple[str, int]:
    """`?` placeholders as PostgreSQL's `$1, $2, …` (the SQL here never holds a literal `?`)."""
    parts = sql.split("?")
    out = [parts[0]]
    for i, part in enumerate(parts[1:], start + 1):
        out.append(f"${i}{part}")
    return "".join(out), start + len(parts) - 1


_COMBINED: dict[tuple[str, ...], str] = {}


def combined_sql(statements: Sequence[str]) -> str:
    """PostgreSQL: the writes as one statement (data-modifying CTEs), cached per sequence of statements."""
    key = tuple(statements)
    if key not in _COMBINED:
        parts, count = [], 0
        for sql in key:
            text, count = numbered(sql, count)
            parts.append(text)
        head = ", ".join(f"s{i} AS ({text})" for i, text in enumerate(parts[:-1]))
        _COMBINED[key] = f"WITH {head} {parts[-1]}" if head else parts[-1]
    return _COMBINED[key]


async def write_atomically(statements: Sequence[Statement]) -> None:
    """Runs the writes all or none (see the module's docstring for how on each database)."""
    client = connections.get("default")
    kind = client.capabilities.dialect
    if kind == "postgres":
        await client.execute_query(*_as_one(statements))
        return
    if isinstance(client, TransactionalDBClient):  # inside the caller's transaction: join it
        for statement in statements:
            await client.execute_query(statement.sql, list(statement.values))
        return
    if kind != "sqlite" or not hasattr(client, "_connection"):
        from tortoise.transactions import in_transaction

        async with in_transaction() as conn:
            for statement in statements:
                await conn.execute_query(statement.sql, list(statement.values))
        return
    async with client.acquire_connection() as connection:  # the client's lock: no statement or transaction between
        try:
            # aiosqlite runs a callable on its thread through `_execute`: one hand-off instead of one per statement.
            await connection._execute(_sqlite_step, connection._conn, statements, True, True)
        except (sqlite3.IntegrityError, sqlite3.OperationalError) as exc:
            raise _tortoise_error(exc) from exc


def _as_one(statements: Sequence[Statement]) -> tuple[str, list[Any]]:
    """PostgreSQL: the statements as one (`combined_sql`) and their values in order."""
    return combined_sql([s.sql for s in statements]), [value for s in statements for value in s.values]


def _tortoise_error(exc: sqlite3.Error) -> Exception:
    """What Tortoise raises for sqlite3's error (its own SQLite client's mapping), for the paths that bypass it."""
    return IntegrityError(exc) if isinstance(exc, sqlite3.IntegrityError) else OperationalError(exc)


def written_alone(build: Callable[P, Statement]) -> Callable[P, Coroutine[Any, Any, None]]:
    """The writer of the one row `build` describes, run at once (joining the caller's transaction when there is
    one): `record` from `record_statement`, `enqueue` from `enqueue_statement`, with the same arguments."""

    async def write(*args: P.args, **kwargs: P.kwargs) -> None:
        await write_atomically([build(*args, **kwargs)])

    return write


async def execute(statement: Statement) -> int:
    """Runs one statement alone (joining the caller's transaction, if any); returns the rows it changed."""
    client = connections.get("default")
    sql = numbered(statement.sql)[0] if client.capabilities.dialect == "postgres" else statement.sql
    changed, _ = await client.execute_query(sql, list(statement.values))
    return int(changed)


Rows = list[dict[str, Any]]


class Steps:
    """An atomic unit written in a few steps, each step one trip: `in_steps()` opens it.

    `write(statements)` runs the statements as one step and returns the rows of the last one (a `RETURNING`
    clause, or a `SELECT`); on PostgreSQL the statements of a step are one statement of data-modifying CTEs,
    so a later one may read an earlier one's `RETURNING` rows as `s0`, `s1`, … (see `combined_sql`).
    `finish(statements)` is the last step: on SQLite its statements and the `COMMIT` are one hand-off.
    Between steps the caller may do other work (a throttle hit) and raise to roll everything back.
    """

    def __init__(self, step: Callable[[Sequence[Statement], bool], Coroutine[Any, Any, Rows]]) -> None:
        self._step = step
        self.finished = False

    async def write(self, statements: Sequence[Statement]) -> Rows:
        if self.finished:
            raise RuntimeError("the unit is finished")
        return await self._step(statements, False)

    async def finish(self, statements: Sequence[Statement] = ()) -> Rows:
        if self.finished:
            raise RuntimeError("the unit is finished")
        self.finished = True
        return await self._step(statements, True)


@asynccontextmanager
async def in_steps() -> AsyncIterator[Steps]:
    """An atomic unit in steps: committed when the block ends, rolled back when it raises.

    PostgreSQL: `BEGIN`, one statement per step, `COMMIT` (a trip each). SQLite: the first step's statements
    ride with `BEGIN` and the last step's with `COMMIT`, one hand-off to aiosqlite's thread per step, under
    the Tortoise client's lock (nothing else on the connection runs until the unit ends: the block must not
    query the database by other means). Inside the caller's own transaction the steps join it.
    """
    client = connections.get("default")
    kind = client.capabilities.dialect
    if kind == "sqlite" and hasattr(client, "_connection") and not isinstance(client, TransactionalDBClient):
        async with client.acquire_connection() as connection:  # the client's lock, as its transactions take
            is_open = False

            async def hop(statements: Sequence[Statement], commit: bool) -> Rows:
                nonlocal is_open
                _log_step(statements)
                begin, is_open = not is_open, True
                try:
                    # aiosqlite runs a callable on its thread through `_execute` (see `write_atomically`).
                    rows: Rows = await connection._execute(_sqlite_step, connection._conn, statements, begin, commit)
                except sqlite3.Error as exc:
                    is_open = False  # the step rolled back on the thread
                    raise _tortoise_error(exc) from exc
                # (Cancelled while the thread runs the step: `is_open` stays set, so the ROLLBACK queues behind it.)
                is_open = not commit
                return rows

            steps = Steps(hop)
            try:
                yield steps
            except BaseException:
                if is_open:
                    await connection._execute(connection._conn.rollback)
                raise
            if is_open:
                await hop((), True)  # the block ended without `finish`: the COMMIT alone
        return

    async def joined(conn: Any, statements: Sequence[Statement], _: bool) -> Rows:
        if not statements:
            return []
        if kind == "postgres":
            _log_step(statements)  # (other databases: Tortoise logs each statement below)
            return list(await conn.execute_query_dict(*_as_one(statements)))
        for statement in statements[:-1]:
            await conn.execute_query(statement.sql, list(statement.values))
        return list(await conn.execute_query_dict(statements[-1].sql, list(statements[-1].values)))

    if isinstance(client, TransactionalDBClient):  # inside the caller's transaction: join it
        yield Steps(lambda statements, last: joined(client, statements, last))
        return
    from tortoise.transactions import in_transaction

    async with in_transaction() as conn:
        yield Steps(lambda statements, last: joined(conn, statements, last))


# Each statement of a step is logged as Tortoise logs a query (`sql: values`), on both databases, so the
# statement log shows the same work whichever way a step is sent (SQLite's thread bypasses Tortoise's log;
# on PostgreSQL Tortoise also logs the combined statement).
_statement_log = logging.getLogger("tortoise.db_client")


def _log_step(statements: Sequence[Statement]) -> None:
    if _statement_log.isEnabledFor(logging.DEBUG):
        for statement in statements:
            _statement_log.debug("%s: %s", statement.sql, list(statement.values))


def _sqlite_step(
    conn: sqlite3.Connection, statements: Sequence[Statement], begin: bool, commit: bool
) -> Rows:
    """On aiosqlite's thread (the connection in autocommit mode, as Tortoise opens it): one step of `in_steps`,
    or all of `write_atomically` (both flags), with `BEGIN` before it and/or `COMMIT` after it; any failure
    (a COMMIT refused included) rolls the whole unit back before it is raised."""
    rows: Rows = []
    try:
        if begin:
            conn.execute("BEGIN")
        for statement in statements:
            cursor = conn.execute(statement.sql, statement.values)
            fetched = cursor.fetchall()  # a RETURNING statement completes only once its rows are read
            if cursor.description:
                names = [column[0] for column in cursor.description]
                rows = [dict(zip(names, row, strict=True)) for row in fetched]
            else:
                rows = []
        if commit:
            conn.commit()
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise
    return rows


async def execute_many(statements: Sequence[Statement]) -> None:
    """Many rows of one statement (the same SQL) in one `executemany`, joining the caller's transaction.

    For bulk writes (the registry import): no model instance per row, one trip per batch.
    """
    if not statements:
        return
    client = connections.get("default")
    sql = statements[0].sql
    if client.capabilities.dialect == "postgres":
        sql = numbered(sql)[0]
    await client.execute_many(sql, [list(s.values) for s in statements])
