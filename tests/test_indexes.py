"""Every foreign key leads an index: revoking an account's sessions, voiding its reset tokens (on every
`requestPasswordReset`), listing a ticket's events, deleting an account (its cascades) read by the
referencing column, and without an index each of those scans the whole table on a city's worth of rows."""

from __future__ import annotations

from tortoise import connections

POSTGRES_UNINDEXED = """
SELECT c.conrelid::regclass::text AS "table", a.attname AS "column"
FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
WHERE c.contype = 'f' AND NOT EXISTS (
    SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1]
)
"""


async def unindexed_foreign_keys() -> set[tuple[str, str]]:
    client = connections.get("default")
    if client.capabilities.dialect == "postgres":
        _, rows = await client.execute_query(POSTGRES_UNINDEXED)
        return {(row["table"], row["column"]) for row in rows}
    _, tables = await client.execute_query("SELECT name FROM sqlite_master WHERE type = 'table'")
    missing = set()
    for (table,) in (tuple(row.values()) if isinstance(row, dict) else tuple(row) for row in tables):
        _, keys = await client.execute_query(f'PRAGMA foreign_key_list("{table}")')
        _, indexes = await client.execute_query(f'PRAGMA index_list("{table}")')
        leading = set()
        for index in indexes:
            _, columns = await client.execute_query(f'PRAGMA index_info("{index["name"]}")')
            leading.update(column["name"] for column in columns if column["seqno"] == 0)
        missing.update((table, key["from"]) for key in keys if key["from"] not in leading)
    return missing


async def test_every_foreign_key_leads_an_index(database):
    found = await unindexed_foreign_keys()
    # Tortoise gives a many-to-many table no index on its second column; PostgreSQL gets one from
    # `portal migrate` (models/desk.py POSTGRES_EXTRAS), and SQLite reads those few rows by the first.
    assert found <= {("personal_account_holders", "account_id")}, sorted(found)
    assert found == set() or connections.get("default").capabilities.dialect == "sqlite"
