"""Ticket numbers (`2026-000123`): one per-year counter row, bumped inside the ticket's own transaction."""

from __future__ import annotations

import re

from tortoise.backends.base.client import BaseDBAsyncClient

NUMBER_RE = re.compile(r"^([0-9]{4})-([0-9]{6,11})$")  # at most 16 characters: the Ticket.number column

_COUNTER_SQL = (
    "INSERT INTO support_ticket_counters (year, value) VALUES (%s, 1) "
    "ON CONFLICT (year) DO UPDATE SET value = support_ticket_counters.value + 1 RETURNING value"
)


async def next_number(conn: BaseDBAsyncClient, year: int) -> str:
    """One atomic upsert on the year's counter row (PostgreSQL and SQLite 3.35+): never MAX()+1.

    On PostgreSQL the row stays locked until the ticket's transaction ends, so numbers are handed out in
    commit order and a rolled-back submission gives its number back.
    """
    sql = _COUNTER_SQL.replace("%s", "$1" if conn.capabilities.dialect == "postgres" else "?")
    rows = await conn.execute_query_dict(sql, [year])  # execute_query drops RETURNING rows on asyncpg
    return f"{year:04d}-{int(rows[0]['value']):06d}"
