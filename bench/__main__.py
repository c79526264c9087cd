"""`python -m bench` (`make bench`): runs every figure on SQLite and PostgreSQL and prints one table."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import wrk
from bench.report import NOISE, Row, format_table
from bench.run import PORTAL, Database, Pass, unwind_on_sigterm

POSTGRES_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    mem_kib = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return f"{os.cpu_count()} cores ({cpu}), {mem_kib / 1024 / 1024:.1f} GiB memory, Python {platform.python_version()}"


def loadavg() -> str:
    """Other work on this machine skews every figure: above ~0.5 before the start, the run is noisy."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cores() -> str:
    """The cores this process (and so every server and load generator it pins) may run on."""
    return ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))


def conditions(load_at_start: str) -> str:
    """The line printed above every table: how busy the machine was, and which cores the run had."""
    load = f"load average (1, 5, 15 min) at the start: {load_at_start}; at the end: {loadavg()}"
    return f"{load}; cores the run got: {cores()}"


def schema_mutations() -> set[str]:
    sdl = subprocess.run([PORTAL, "schema"], capture_output=True, text=True, check=True).stdout  # noqa: S603
    block = re.search(r"type Mutation \{(.*?)\n\}", sdl, re.S)
    return set(re.findall(r"^\s+(\w+)\(", block.group(1), re.M)) if block else set()


async def _postgres(admin: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin.replace("postgres://", "postgresql://", 1), timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def postgres_database(admin: str) -> Database | None:
    name = f"portal_bench_{os.getpid()}_{int(time.time())}"
    try:
        asyncio.run(_postgres(admin, f"CREATE DATABASE {name}"))
    except Exception as exc:  # noqa: BLE001 - no PostgreSQL here: its rows are skipped, and the table says so
        log(f"PostgreSQL not reachable at {admin} ({exc}); its figures are skipped")
        return None
    url = admin.rsplit("/", 1)[0] + "/" + name
    return Database(
        "PostgreSQL", url, lambda: asyncio.run(_postgres(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    )


def database_for(kind: str, workdir: Path, admin: str) -> Database | None:
    """The benchmark's database of `kind` (`sqlite`: a file in `workdir/data`, which must exist; `postgres`: a new
    database, None when PostgreSQL does not answer)."""
    if kind == "sqlite":
        return Database("SQLite", f"sqlite://{workdir / 'data' / 'portal.sqlite3'}")
    if kind == "postgres":
        return postgres_database(admin)
    raise ValueError(f"unknown database {kind!r}: use sqlite and/or postgres")


def add_length(parser: argparse.ArgumentParser, flag: str, variable: str, default: float, what: str) -> None:
    """A length option whose default `variable` overrides: `make bench` passes no arguments to its steps."""
    help_text = f"{what} (default {default:g}; {variable} overrides it)"
    parser.add_argument(flag, type=float, default=float(os.environ.get(variable, default)), help=help_text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    add_length(parser, "--seconds", "PORTAL_BENCH_SECONDS", 8, "length of each load run")
    parser.add_argument("--accounts", type=int, default=1000, help="accounts seeded (default 1000)")
    parser.add_argument("--databases", default=os.environ.get("PORTAL_BENCH_DATABASES", "sqlite,postgres"))
    parser.add_argument(
        "--postgres",
        default=os.environ.get("PORTAL_BENCH_POSTGRES_URL", POSTGRES_ADMIN),
        help="a PostgreSQL URL whose user may create databases",
    )
    parser.add_argument(
        "--million",
        action=argparse.BooleanOptionalAction,
        default=os.environ.get("PORTAL_BENCH_MILLION", "1") != "0",
        help="also load 10^6 accounts on PostgreSQL for the login p50 figure (default on)",
    )
    args = parser.parse_args(argv)
    if not wrk.available():
        log("`wrk` and `taskset` are needed: apt-get install wrk util-linux")
        return 2
    if (os.cpu_count() or 1) < 2:
        log("two cores are needed: one for the server, one for the load generator")
        return 2

    began = time.monotonic()
    load_at_start = loadavg()
    mutations = schema_mutations()
    log(f"machine: {machine()}")
    rows: list[Row] = []
    wanted = [d.strip().lower() for d in args.databases.split(",") if d.strip()]
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp:
        for kind in wanted:
            workdir = Path(tmp) / kind
            (workdir / "data").mkdir(parents=True)
            try:
                database = database_for(kind, workdir, args.postgres)
            except ValueError as unknown:
                log(str(unknown))
                return 2
            if database is None:
                continue
            bench = Pass(database, workdir, args.seconds, args.accounts, args.million, mutations, log)
            try:
                bench.run()
            finally:
                rows.extend(bench.rows())
                database.cleanup()

    print()
    print(f"machine: {machine()}")
    print(conditions(load_at_start))
    print(
        f"server: `portal serve` (uvicorn, one worker) pinned to core 0; load: wrk pinned to core 1; "
        f"{args.seconds:g} s per run; {time.monotonic() - began:.0f} s in all"
    )
    print(
        "CPU got: the share of a core the server had in the figure's runs · in the baseline's (CPU s / wall s); "
        f"a baseline that moved more than {NOISE:.0%} between its alternating rounds makes its figure noisy"
    )
    print()
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    unwind_on_sigterm()
    sys.exit(main())
