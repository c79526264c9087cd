"""Two versions of the code side by side: `python -m bench.ab --before DIR [--database D] [--figure F]`.

One database, seeded once; `portal serve` from DIR (a checkout of the earlier code, e.g. made with
`git worktree add /tmp/before <revision>`) and from this checkout, both up, pinned to the same core and driven
in turn with the order swapped every round, `wrk` on the other core. Prints the median answers per second of
each server's own CPU, their ratio and every round's pair: a change worth a few per cent shows through the
neighbours' noise that moves a single run of `make bench` by ten.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from bench import wrk
from bench.__main__ import POSTGRES_ADMIN, database_for
from bench.run import (
    ROOT,
    Pass,
    Server,
    known_reset_requests,
    me_requests,
    ticket_requests,
    unwind_on_sigterm,
)

# What each figure sends: (connections, the text every right answer carries).
FIGURES = {
    "me": (32, '"me":{"id":"'),
    "login": (8, '"__typename":"LoginSuccess"'),
    "reset": (128, '"__typename":"PasswordResetRequested"'),
    "ticket": (32, '"__typename":"SupportTicketSubmitted"'),
}


def requests_for(figure: str, p: Pass, server: Server) -> list[wrk.Request]:
    if figure == "me":
        return me_requests(p.sign_in(server, 20))
    if figure == "login":
        return p.login_requests()
    if figure == "reset":
        return known_reset_requests(p.accounts)
    return ticket_requests()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__)
    parser.add_argument("--before", required=True, type=Path, help="a checkout of the code to compare against")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--figure", choices=sorted(FIGURES), default="me")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each run (default 4)")
    parser.add_argument("--rounds", type=int, default=10, help="runs of each version (default 10)")
    parser.add_argument("--postgres", default=POSTGRES_ADMIN, help="a PostgreSQL URL whose user may create databases")
    args = parser.parse_args(argv)
    if not (args.before / "portal" / "__init__.py").exists():
        parser.error(f"{args.before} holds no checkout of the portal")

    workdir = Path(tempfile.mkdtemp(prefix="portal-bench-ab-"))
    (workdir / "data").mkdir()
    db = database_for(args.database, workdir, args.postgres)
    if db is None:  # PostgreSQL does not answer
        return 1
    connections, expect = FIGURES[args.figure]
    rates: dict[str, list[float]] = {"before": [], "after": []}
    try:
        passes = {
            label: Pass(db=db, workdir=workdir, seconds=args.seconds, accounts=1000, million=False,
                        mutations=set(), log=print, extra_env={"PYTHONPATH": str(root)})
            for label, root in (("before", args.before.resolve()), ("after", ROOT))
        }
        passes["after"].seed(failures=False)
        with passes["before"].portal() as before, passes["after"].portal() as after:
            servers = {"before": before, "after": after}
            load = {label: requests_for(args.figure, passes[label], servers[label]) for label in servers}
            for n in range(args.rounds):
                for label in ("before", "after") if n % 2 == 0 else ("after", "before"):
                    url = servers[label].url + "/graphql"
                    result = passes[label].drive(args.figure, url, load[label], expect, connections, args.seconds)
                    rates[label].append(result.ok_per_cpu_second)
    finally:
        db.cleanup()
    before_rate, after_rate = statistics.median(rates["before"]), statistics.median(rates["after"])
    pairs = " ".join(f"{a / b:.2f}" for b, a in zip(rates["before"], rates["after"], strict=True))
    print(
        f"{db.name} {args.figure}: before {before_rate:,.0f} /cpu-s, after {after_rate:,.0f} /cpu-s, "
        f"after / before {after_rate / before_rate:.3f} (each round: {pairs})"
    )
    return 0


if __name__ == "__main__":
    unwind_on_sigterm()
    sys.exit(main())
