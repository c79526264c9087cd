"""Bulk-loads benchmark accounts that share one precomputed password hash.

`python -m bench.seed --start S --count N [--migrate] [--disabled]` with the server's `PORTAL_*` environment;
reads the password on stdin, prints the stored hash. PostgreSQL gets `COPY`, SQLite multi-row inserts.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from datetime import UTC, datetime

BATCH = 20_000


def email(i: int) -> str:
    return f"bench{i}@example.com"


def account_rows(start: int, count: int, password_hash: str, disabled: bool = False) -> list[object]:
    from portal.models.accounts import Account, AccountStatus

    now = datetime.now(UTC)
    return [
        Account(
            id=uuid.uuid4(),
            full_name=f"Житель {i}",
            email=email(i),
            email_verified=True,
            password_hash=password_hash,
            status=AccountStatus.DISABLED if disabled else AccountStatus.ACTIVE,
            password_changed_at=now,
            created_at=now,
            updated_at=now,
        )
        for i in range(start, start + count)
    ]


async def copy_accounts(rows: list[object]) -> None:
    """PostgreSQL's COPY: every column the model has, values converted by the model's own fields."""
    from tortoise import connections

    from portal.models.accounts import Account

    meta = Account._meta
    names = list(meta.fields_db_projection)
    columns = [meta.fields_db_projection[n] for n in names]
    fields = [meta.fields_map[n] for n in names]
    client = connections.get("default")
    records = []
    for row in rows:
        record = []
        for name, field in zip(names, fields, strict=True):
            value = field.to_db_value(getattr(row, name), row)
            if isinstance(value, str) and field.__class__.__name__ == "UUIDField":
                value = uuid.UUID(value)
            record.append(value)
        records.append(tuple(record))
    async with client.acquire_connection() as raw:
        await raw.copy_records_to_table(meta.db_table, records=records, columns=columns)


async def seed(start: int, count: int, password: str, migrate: bool, analyze: bool, disabled: bool = False) -> str:
    from portal.api import db
    from portal.core.hashing import Passwords
    from portal.core.settings import load_settings
    from portal.models.accounts import Account

    settings = load_settings()
    if migrate:
        await db.migrate(settings)
    passwords = Passwords(settings.argon2_memory_kib, settings.argon2_time_cost, settings.argon2_parallelism)
    password_hash = passwords.hash_sync(password)
    postgres = settings.database_url.startswith(("postgres", "asyncpg"))
    await db.connect(settings)
    try:
        for offset in range(start, start + count, BATCH):
            rows = account_rows(offset, min(BATCH, start + count - offset), password_hash, disabled)
            if postgres:
                await copy_accounts(rows)
            else:
                await Account.bulk_create(rows, batch_size=1000)  # type: ignore[arg-type]
        if analyze and postgres:
            from tortoise import connections

            await connections.get("default").execute_script("ANALYZE")
    finally:
        await db.disconnect()
    return password_hash


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.seed")
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--migrate", action="store_true")
    parser.add_argument("--analyze", action="store_true")
    parser.add_argument("--disabled", action="store_true", help="seed them disabled (as `portal accounts disable`)")
    args = parser.parse_args(argv)
    password = sys.stdin.readline().rstrip("\n")
    began = time.perf_counter()
    stored = asyncio.run(seed(args.start, args.count, password, args.migrate, args.analyze, args.disabled))
    print(stored)
    print(f"{args.count} accounts in {time.perf_counter() - began:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
