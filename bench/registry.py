"""`python -m bench.registry` (part of `make bench`): the registry import's speed against a bare bulk insert.

Generates a registry of 100,000 residents (CSV, Windows-1251, `;`, Russian headers: what billing systems
export), migrates a fresh database, and times in one process on one connection:
- baseline: the same rows as `PersonalAccount` objects written by Tortoise's `bulk_create`, 1,000 a statement,
  in one transaction (nothing read, nothing checked);
- import: `identity.registry` end to end: decode and parse the file, check every row (phone, e-mail, number,
  duplicates, e-mails held by others), look up the stored rows, write in batches;
- re-import: the same file again (everything unchanged: reads and compares, writes nothing).
Prints rows per second and the ratio to the baseline, on SQLite and (when reachable) PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.__main__ import POSTGRES_ADMIN, conditions, loadavg, postgres_database
from bench.run import unwind_on_sigterm

PORTAL = str(Path(sys.executable).parent / "portal")
SECRET = "bench-secret-key-" + "r" * 40
HEADER = ["Лицевой счёт", "ФИО", "Адрес", "E-mail", "Телефон", "Площадь", "Доля"]


def write_registry(path: Path, count: int, prefix: str) -> None:
    rnd = random.Random(7)  # noqa: S311 - reproducible test data, not a secret
    with path.open("w", encoding="cp1251", newline="") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow(HEADER)
        for i in range(count):
            writer.writerow([
                f"{prefix}{i:07d}", f"Иванов Иван Иванович {i}",
                f"г. Екатеринбург, ул. Ленина, д. {i // 100}, кв. {i % 100}",
                f"resident{i}@example.ru" if i % 3 else "", f"+7912{rnd.randint(0, 9_999_999):07d}",
                f"{rnd.randint(20, 150)},{rnd.randint(0, 9)}", "1/2" if i % 5 == 0 else "",
            ])


def env(url: str, workdir: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    return base | {"PORTAL_DATABASE_URL": url, "PORTAL_DATA_DIR": str(workdir), "PORTAL_SECRET_KEY": SECRET}


async def measure(url: str, workdir: Path, count: int) -> list[tuple[str, float]]:
    from portal.api import db
    from portal.core.runtime import Runtime
    from portal.core.settings import Settings
    from portal.identity.registry import import_registry, read_registry
    from portal.models.residents import PersonalAccount

    migrate = [PORTAL, "migrate"]
    subprocess.run(migrate, env=env(url, workdir), cwd=workdir, check=True, capture_output=True)  # noqa: S603, ASYNC221
    settings = Settings(database_url=url, data_dir=workdir, secret_key=SECRET)
    rt = Runtime(settings)
    base_file, import_file = workdir / "baseline.csv", workdir / "registry.csv"
    write_registry(base_file, count, "B")
    write_registry(import_file, count, "R")
    await db.connect(settings)
    try:
        from tortoise.transactions import in_transaction

        started = time.perf_counter()
        rows = list(read_registry(base_file))
        now = rt.clock.now()
        objects = [PersonalAccount(number=v["number"], address=v["address"], full_name=v["full_name"],
                                   email=v["email"] or None, phone=v["phone"], created_at=now, updated_at=now)
                   for _, v in rows]
        async with in_transaction():
            for start in range(0, len(objects), 1000):
                await PersonalAccount.bulk_create(objects[start:start + 1000])
        baseline = time.perf_counter() - started

        started = time.perf_counter()
        report = await import_registry(rt, read_registry(import_file))
        imported = time.perf_counter() - started
        assert report.created == count and not report.bad, report.summary()

        started = time.perf_counter()
        again = await import_registry(rt, read_registry(import_file))
        reimported = time.perf_counter() - started
        assert again.unchanged == count, again.summary()
    finally:
        await db.disconnect()
    return [("bare bulk insert (baseline)", count / baseline), ("registry import", count / imported),
            ("re-import, all unchanged", count / reimported)]


def measure_apart(url: str, workdir: Path, rows: int) -> list[tuple[str, float]]:
    """One process per database: Tortoise caches statements built for the first dialect it saw."""
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bench.registry", "--one", url, "--workdir", str(workdir), "--rows", str(rows)],
        check=True, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent,
    )
    return [(label, rate) for label, rate in json.loads(done.stdout.strip().splitlines()[-1])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.registry", description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one database in this process
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(asyncio.run(measure(args.one, args.workdir, args.rows))))
        return 0
    load_at_start = loadavg()
    results: list[tuple[str, list[tuple[str, float]]]] = []
    with tempfile.TemporaryDirectory(prefix="portal-bench-registry-") as tmp:
        workdir = Path(tmp)
        results.append(("SQLite", measure_apart(f"sqlite://{workdir}/portal.sqlite3", workdir, args.rows)))
        # None without PostgreSQL: its rows are skipped
        database = None if args.sqlite_only else postgres_database(POSTGRES_ADMIN)
        if database is not None:
            try:
                results.append(("PostgreSQL", measure_apart(database.url, workdir, args.rows)))
            finally:
                database.cleanup()
    print(f"\nRegistry import, {args.rows:,} rows (rows per second; ratio to the bare bulk insert of the same run)")
    print(conditions(load_at_start))
    for database, rows in results:
        base = rows[0][1]
        for label, rate in rows:
            print(f"  {database:<10} {label:<28} {rate:>10,.0f} rows/s  {rate / base:5.2f}x")
    return 0


if __name__ == "__main__":
    unwind_on_sigterm()
    sys.exit(main())
