"""`python -m bench.desk` (part of `make bench`): the staff queue over 10,000 tickets, through the real server.

Seeds 10,000 tickets (bulk insert) and a staff account, starts `portal serve`, and times one connection's
requests for a page of 50: first page, a cursor 100 pages deep, a status filter and searches by name,
surname, e-mail, phone and number. Target: p95 under 20 ms. The baseline of the same run is the smallest
authenticated request (`{ me { id } }`) on the same server and connection.

The staff desk page `/desk` (the same queue rendered as HTML for a browser signed in through /login) is timed
the same way: first page, a status filter and a phone search. Target: p95 under 50 ms. Its baseline is the
smallest page for the same signed-in browser (the /support/status look-up form).
`--only pages` runs just that part.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.__main__ import POSTGRES_ADMIN, conditions, loadavg, postgres_database
from bench.ports import free_port
from bench.run import unwind_on_sigterm

ROOT = Path(__file__).resolve().parent.parent
PORTAL = str(Path(sys.executable).parent / "portal")
SECRET = "bench-secret-key-" + "d" * 40
PASSWORD = "Bench-password desk 7q"
STAFF_EMAIL = "desk-staff@example.com"
TARGET_P95_MS = 20.0
TARGET_PAGE_P95_MS = 50.0
PAGE_SCENARIOS = {
    "page /desk first page": {},
    "page /desk status filter": {"status": "WAITING_FOR_RESIDENT"},
    "page /desk search phone": {"search": "8 (912) 000-42-42"},
}
SURNAMES = [
    "Иванов",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Васильев",
    "Петров",
    "Соколов",
    "Михайлов",
    "Новиков",
    "Фёдоров",
    "Морозов",
    "Волков",
    "Алексеев",
    "Лебедев",
    "Семёнов",
    "Егоров",
    "Павлов",
    "Козлов",
]
GIVEN = ["Иван", "Пётр", "Мария", "Анна", "Сергей", "Ольга", "Дмитрий", "Елена", "Алексей", "Татьяна"]
QUEUE = (
    "query Q($status: TicketStatus, $search: String, $after: String) { supportTickets(status: $status, "
    "search: $search, first: 50, after: $after) { __typename ... on SupportTicketConnection { totalCount "
    "pageInfo { endCursor } nodes { number status fullName phone assignedTo { id } } } } }"
)
ME = "query { me { id } }"


def name(i: int) -> str:
    return f"{SURNAMES[i % len(SURNAMES)]} {GIVEN[(i // len(SURNAMES)) % len(GIVEN)]} кв{i % 97}"


def env(url: str, workdir: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    return {
        **base,
        "PYTHONPATH": str(ROOT),
        "PORTAL_ENV": "production",
        "PORTAL_DATABASE_URL": url,
        "PORTAL_DATA_DIR": str(workdir / "data"),
        "PORTAL_SECRET_KEY": SECRET,
        "PORTAL_DELIVER_MAIL_IN_PROCESS": "false",
        "PORTAL_STAFF_SECOND_FACTOR": "optional",  # the figure is the page, not the staff's sign-in policy
    }


async def seed(url: str, workdir: Path, count: int) -> None:
    """Runs in a child process with the server's environment (see `main --seed`)."""
    from portal.api import db
    from portal.core.runtime import Runtime
    from portal.core.settings import load_settings
    from portal.identity.accounts import NewAccount, create_account
    from portal.models.accounts import Role
    from portal.models.support import Ticket, TicketCategory, TicketStatus

    settings = load_settings()
    await db.connect(settings)
    try:
        rt = Runtime(settings)
        await create_account(
            rt, NewAccount(full_name="Сотрудник поддержки", email=STAFF_EMAIL, role=Role.STAFF, password=PASSWORD)
        )
        now = rt.clock.now()
        statuses = list(TicketStatus)
        rows = [
            Ticket(
                number=f"2026-{i:06d}",
                status=statuses[i % len(statuses)],
                category=TicketCategory.ACCOUNT_ACCESS,
                full_name=name(i),
                registration_address=f"ул. Ленина, д. {i % 200 + 1}",
                phone=f"+7912{i:07d}",
                account_identifier=f"resident{i}@example.com",
                reply_email=None,
                description="Не могу войти.",
                locale="ru",
                access_key_hash="0" * 64,
                content_hash=str(i),
                consent_given_at=now,
                consent_version="bench",
                created_at=now,
                updated_at=now,
            )
            for i in range(count)
        ]
        await Ticket.bulk_create(rows, batch_size=2000)
        if url.startswith("postgres"):
            from tortoise.connection import get_connection

            await get_connection("default").execute_script("ANALYZE support_tickets")
    finally:
        await db.disconnect()


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[18]


def desk_cookies(client: httpx.Client) -> dict[str, str]:
    """Signs the staff member in through the /login form, as a browser does; returns the cookies to send.

    The cookies are read from `Set-Cookie` directly (they may be `Secure`, and this client speaks plain http)."""
    cookies: dict[str, str] = {}

    def keep(response: httpx.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            cookies[name] = rest.split(";", 1)[0]

    form = client.get("/login")
    keep(form)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf, form.text[:300]
    signed_in = client.post(
        "/login",
        data={"csrf": csrf.group(1), "identifier": STAFF_EMAIL, "password": PASSWORD, "next": "/desk"},
        headers={"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())},
    )
    assert signed_in.status_code == 303, signed_in.text[:300]
    keep(signed_in)
    return cookies


def measure_pages(base: str, rounds: int) -> list[tuple[str, float, float]]:
    """The /desk page's own timings on the same server: one connection of a browser-like client of its own."""
    with httpx.Client(base_url=base, timeout=30) as client:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in desk_cookies(client).items())}

        def get(_: str, params: dict[str, Any]) -> tuple[float, None]:
            t0 = time.perf_counter()
            r = client.get("/desk", params=params, headers=headers)
            elapsed = (time.perf_counter() - t0) * 1000
            assert r.status_code == 200 and 'id="queue"' in r.text, (r.status_code, r.text[:300])
            return elapsed, None

        def plain(_: str, __: dict[str, Any]) -> tuple[float, None]:
            t0 = time.perf_counter()
            r = client.get("/support/status", headers=headers)  # the smallest page: the share of the machine
            assert r.status_code == 200, r.status_code
            return (time.perf_counter() - t0) * 1000, None

        rows = [("page baseline", *_timed(plain, "", {}, rounds))]
        return rows + [(label, *_timed(get, "", params, rounds)) for label, params in PAGE_SCENARIOS.items()]


def measure(
    url: str, workdir: Path, count: int, rounds: int, only: str | None = None
) -> list[tuple[str, float, float]]:
    environment = env(url, workdir)
    subprocess.run([PORTAL, "migrate"], env=environment, cwd=workdir, check=True, capture_output=True)  # noqa: S603
    subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bench.desk", "--seed", str(count)], env=environment, cwd=workdir, check=True
    )
    port = free_port()
    log = (workdir / "serve.log").open("wb")
    server = subprocess.Popen(  # noqa: S603
        [PORTAL, "serve", "--port", str(port)], env=environment, cwd=workdir, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(300):
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            if only == "pages":
                return measure_pages(base, rounds)
            login = client.post(
                "/graphql",
                json={
                    "query": (
                        "mutation($i: String!, $p: String!) { login(identifier: $i, password: $p) { "
                        "... on LoginSuccess { session { accessToken } } } }"
                    ),
                    "variables": {"i": STAFF_EMAIL, "p": PASSWORD},
                },
            )
            token = login.json()["data"]["login"]["session"]["accessToken"]
            headers = {"Authorization": f"Bearer {token}"}

            def post(query: str, variables: dict[str, Any]) -> tuple[float, dict[str, Any]]:
                t0 = time.perf_counter()
                r = client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
                elapsed = (time.perf_counter() - t0) * 1000
                assert r.status_code == 200 and "errors" not in r.json(), r.text[:300]
                return elapsed, r.json()["data"]

            cursor = None
            for _ in range(100):
                cursor = post(QUEUE, {"after": cursor})[1]["supportTickets"]["pageInfo"]["endCursor"]
            scenarios = {
                "first page": {},
                "cursor 100 pages deep": {"after": cursor},
                "status filter": {"status": "WAITING_FOR_RESIDENT"},
                "search full name": {"search": name(4242)},
                "search surname": {"search": SURNAMES[7]},
                "search e-mail": {"search": "resident4242@example.com"},
                "search phone": {"search": "8 (912) 000-42-42"},
                "search number": {"search": "2026-004242"},
            }
            rows = [("me (baseline)", *_timed(post, ME, {}, rounds))]
            for label, variables in scenarios.items():
                rows.append((label, *_timed(post, QUEUE, variables, rounds)))
            return rows + measure_pages(base, rounds)
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def _timed(post: Any, query: str, variables: dict[str, Any], rounds: int) -> tuple[float, float]:
    for _ in range(5):
        post(query, variables)  # warm-up
    samples = [post(query, variables)[0] for _ in range(rounds)]
    return statistics.median(samples), p95(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.desk", description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--only", choices=["pages"], help="time only the /desk page")
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)  # internal: seed with the current env
    args = parser.parse_args(argv)
    if args.seed is not None:
        asyncio.run(seed(os.environ["PORTAL_DATABASE_URL"], Path.cwd(), args.seed))
        return 0
    load_at_start = loadavg()

    results: list[tuple[str, str, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="portal-bench-desk-") as tmp:
        workdir = Path(tmp)
        (workdir / "sqlite").mkdir()
        for row in measure(
            f"sqlite://{workdir}/sqlite/portal.sqlite3", workdir / "sqlite", args.count, args.rounds, args.only
        ):
            results.append(("SQLite", *row))
        database = postgres_database(POSTGRES_ADMIN)  # None without PostgreSQL: its rows are skipped
        if database is not None:
            try:
                (workdir / "pg").mkdir()
                for row in measure(database.url, workdir / "pg", args.count, args.rounds, args.only):
                    results.append(("PostgreSQL", *row))
            finally:
                database.cleanup()

    print(
        f"\nstaff queue over {args.count:,} tickets, a page of 50, one connection, {args.rounds} requests each\n"
        + conditions(load_at_start)
    )
    print(f"{'figure':28} {'db':11} {'p50 ms':>8} {'p95 ms':>8} {'p95/base':>9}  target p95 < {TARGET_P95_MS:g} ms "
          f"(pages < {TARGET_PAGE_P95_MS:g} ms)")
    baseline = {db: p for db, label, _, p in results if label == "me (baseline)"}
    page_baseline = {db: p for db, label, _, p in results if label == "page baseline"}
    for db, label, p50, p in results:
        base = page_baseline if label.startswith("page ") else baseline
        ratio = p / base[db] if base.get(db) else 0
        target = TARGET_PAGE_P95_MS if label.startswith("page ") else TARGET_P95_MS
        is_baseline = label in ("me (baseline)", "page baseline")
        verdict = "" if is_baseline else ("ok" if p < target else f"MISS (target {target:g} ms)")
        print(f"{label:28} {db:11} {p50:8.2f} {p:8.2f} {ratio:9.2f}  {verdict}")
    return 0


if __name__ == "__main__":
    unwind_on_sigterm()
    sys.exit(main())
