"""Ticket numbers (`2026-000123`): one per-year counter row, bumped inside the ticket's own transaction."""

from __future__ import annotations

import re

from portal.models.batch import Statement

NUMBER_RE = re.compile(r"^([0-9]{4})-([0-9]{6,11})$")  # at most 16 characters: the Ticket.number column

# One atomic upsert on the year's counter row (PostgreSQL and SQLite 3.35+): never MAX()+1. On PostgreSQL the
# row stays locked until the ticket's transaction ends (on SQLite the whole database does), so numbers are
# handed out in commit order and a rolled-back submission gives its number back.
_COUNTER_SQL = (
    "INSERT INTO support_ticket_counters (year, value) VALUES (?, 1) "
    "ON CONFLICT (year) DO UPDATE SET value = support_ticket_counters.value + 1 RETURNING value"
)
# The number the upsert just handed out, as text: `?` is the `2026-` prefix; at least six digits, as
# `f"{value:06d}"` gives. PostgreSQL reads the upsert's RETURNING row (the CTE `s0`: a statement's parts do
# not see each other's changes in the table); SQLite, one statement after the other, reads the table.
_NUMBER_SQL = {
    "postgres": "? || (SELECT lpad(s0.value::text, greatest(6, length(s0.value::text)), '0') FROM s0)",
    "sqlite": "? || (SELECT printf('%06d', value) FROM support_ticket_counters WHERE year = ?)",
}
_NUMBERED: dict[tuple[str, str], str] = {}


def numbered_insert(dialect: str, year: int, insert: Statement) -> list[Statement]:
    """The counter's upsert, then `insert` (a `models.batch.InsertRow` statement of the ticket without its
    number) with the number the upsert handed out: one step of `models.batch.in_steps`, whose rows are the
    new ticket's `id` and `number`. On SQLite the step must open the transaction (the upsert takes the lock).
    """
    sql = _NUMBERED.get((dialect, insert.sql))
    if sql is None:
        head, sep, tail = insert.sql.partition(") VALUES (")
        if not sep or not tail.endswith(")") or dialect not in _NUMBER_SQL:
            raise ValueError(f"not a single-row INSERT for {dialect}: {insert.sql}")
        sql = f'{head}, "number"{sep}{tail[:-1]}, {_NUMBER_SQL[dialect]}) RETURNING "id", "number"'
        _NUMBERED[dialect, insert.sql] = sql
    extra = (f"{year:04d}-",) if dialect == "postgres" else (f"{year:04d}-", year)
    return [Statement(_COUNTER_SQL, (year,)), Statement(sql, (*insert.values, *extra))]
