"""`python -m bench.memory` (the last step of `make bench`): does a server's resident set level off under sign-ins?

One `portal serve` (one worker, pinned to core 0, as `python -m bench` runs it) on PostgreSQL, or on SQLite
when PostgreSQL does not answer, is driven by `wrk` on core 1 for `--minutes` (10 by default;
PORTAL_BENCH_MEMORY_MINUTES overrides): sign-ins of 1,000 accounts from 1,000 client addresses, and after every
fourth a `me` of one of 20 signed-in sessions. Every few seconds the server's VmRSS is sampled.

Printed: the resident set at the start (after start-up and one request), its peak (VmHWM) and at the end;
the bound on Argon2's memory (m × hashes at once); and the growth over the second half of the run (the
least-squares line through that half's samples, times its length). Growth above max(2 MiB, 2 % of the
resident set) is "growing: no plateau"; the verdict is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench import wrk
from bench.__main__ import POSTGRES_ADMIN, add_length, conditions, loadavg, log, postgres_database
from bench.run import (
    LOAD_CORE,
    LOGIN,
    ME,
    PASSWORD,
    SERVER_CORE,
    Database,
    Pass,
    address,
    body,
    hash_memory_bound,
    unwind_on_sigterm,
)
from bench.run import resident as resident_set
from bench.seed import email

CONNECTIONS = 8
ME_EVERY = 4  # one `me` after this many sign-ins
SESSIONS = 20


def mixed_requests(accounts: int, tokens: list[str]) -> list[wrk.Request]:
    """Sign-ins of every account in turn, each from its own client address, with a `me` after every fourth."""
    requests = []
    for i in range(accounts):
        requests.append(wrk.Request(address(i), body(LOGIN, {"i": email(i), "p": PASSWORD})))
        if i % ME_EVERY == ME_EVERY - 1:
            requests.append(wrk.Request(address(i), body(ME), tokens[i % len(tokens)]))
    return requests


def growth(samples: list[tuple[float, float]], seconds: float) -> float:
    """MiB gained over the second half of the run: the least-squares slope through its samples × its length."""
    half = [(t, mib) for t, mib in samples if t >= seconds / 2]
    if len(half) < 3:
        return 0.0
    slope = statistics.linear_regression([t for t, _ in half], [mib for _, mib in half]).slope
    return slope * seconds / 2


def plateau_limit(samples: list[tuple[float, float]]) -> float:
    """The growth a level resident set may still show by chance (some samples catch a hash's memory, some not)."""
    return max(2.0, 0.02 * statistics.median(mib for _, mib in samples))


class Sampler(threading.Thread):
    """Reads a server's resident set every `interval` seconds until stopped: (seconds since start, MiB)."""

    def __init__(self, pid: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, float]] = []
        self.began = time.monotonic()
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.interval):
            self.samples.append((time.monotonic() - self.began, resident_set(self.pid).rss_mib))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    add_length(parser, "--minutes", "PORTAL_BENCH_MEMORY_MINUTES", 10, "length of the run")
    parser.add_argument("--accounts", type=int, default=1000, help="accounts seeded and signed in (default 1000)")
    parser.add_argument("--postgres", default=os.environ.get("PORTAL_BENCH_POSTGRES_URL", POSTGRES_ADMIN))
    args = parser.parse_args(argv)
    if not wrk.available():
        log("`wrk` and `taskset` are needed: apt-get install wrk util-linux")
        return 2
    seconds = args.minutes * 60
    interval = min(5.0, max(1.0, seconds / 60))  # at least 30 samples in the second half
    load_at_start = loadavg()
    with tempfile.TemporaryDirectory(prefix="portal-bench-memory-") as tmp:
        workdir = Path(tmp)
        (workdir / "data").mkdir()
        database = postgres_database(args.postgres) or Database(
            "SQLite", f"sqlite://{workdir / 'data' / 'portal.sqlite3'}"
        )
        # The sessions signed in at the start stay valid for `me` however long the run.
        ttl = {"PORTAL_ACCESS_TOKEN_TTL": str(int(seconds) + 3600)}
        bench = Pass(database, workdir, seconds, args.accounts, False, set(), log, extra_env=ttl)
        try:
            bench.seed(failures=False)
            with bench.portal() as server:
                start = bench.at_rest("portal", server, "/graphql")
                requests = mixed_requests(args.accounts, bench.sign_in(server, SESSIONS))
                log(f"{database.name}: sign-ins and `me` for {args.minutes:g} min, resident set every {interval:g} s")
                sampler = Sampler(server.process.pid, interval)
                sampler.start()
                try:
                    result = bench.drive("memory", server.url + "/graphql", requests, '{"id":"', CONNECTIONS)
                finally:
                    sampler.done.set()
                    sampler.join()
                end = bench.under_load("portal", server)
        finally:
            database.cleanup()

    samples = sampler.samples or [(seconds, end.rss_mib)]
    grown, limit = growth(samples, seconds), plateau_limit(samples)
    bound, how = hash_memory_bound(bench.env(), SERVER_CORE, 1)
    share = result.cpu_seconds / result.seconds if result.seconds else 0.0
    verdict = "growing: no plateau" if grown > limit else "level: a plateau"
    print()
    print(conditions(load_at_start))
    print(
        f"server: `portal serve` (one worker) pinned to core {SERVER_CORE}, "
        f"got {share:.2f} of it; load: wrk pinned to core {LOAD_CORE}, {CONNECTIONS} connections"
    )
    print()
    print(f"| resident set of `portal serve`, {database.name}, {args.minutes:g} min | MiB |")
    print("| --- | --- |")
    print(f"| at the start (after start-up and one request), VmRSS | {start.rss_mib:.1f} |")
    print(f"| peak (VmHWM) | {end.hwm_mib:.1f} |")
    print(f"| highest sample (VmRSS, every {interval:g} s) | {max(mib for _, mib in samples):.1f} |")
    print(f"| at the end, VmRSS | {end.rss_mib:.1f} |")
    print(f"| Argon2 bound ({how}) | {bound:.1f} |")
    print(f"| growth over the second half (least squares; level up to {limit:.1f}) | {grown:+.1f} |")
    tenths = [min(samples, key=lambda sample: abs(sample[0] - seconds * k / 10))[1] for k in range(1, 11)]
    print()
    print("VmRSS at each tenth of the run (MiB): " + ", ".join(f"{mib:.0f}" for mib in tenths))
    wrong = f": {result.sample[:200]}" if result.sample else ""
    print(
        f"answers: {result.ok:,} right of {result.requests:,} ({result.ok_per_second:.1f}/s; "
        f"{result.bad} wrong, {result.socket_errors} socket errors{wrong})"
    )
    short = " (a run under 10 minutes: a hint, not the figure)" if args.minutes < 10 else ""
    print(f"verdict: {verdict}{short}")
    return 0


if __name__ == "__main__":
    unwind_on_sigterm()
    sys.exit(main())
