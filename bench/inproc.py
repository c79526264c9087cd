"""One figure's CPU per operation, by thread, in one process without HTTP: `python -m bench.inproc`.

The app is called as ASGI (no uvicorn, no sockets, no `wrk`), `--concurrency` requests at a time, on a SQLite
file seeded like `make bench`'s; printed are the CPU seconds each thread of the process spent per operation
(`bench.run.thread_cpu`: the event loop's, aiosqlite's, Argon2's) and the wall time per operation.

`--wait SECONDS` (sign-ins only) replaces the password check by a wait of that length: no hash runs, the
event loop just waits as it would for one. BENCHMARKS.md (fifth stop of issue 21) used it to show that, on a
shared guest, ~1.4 ms of a sign-in's event-loop CPU is the cost of having waited ~30 ms at all.

    taskset -c 0 .venv/bin/python -m bench.inproc --figure login --concurrency 1 --wait 0.03
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.__main__ import log
from bench.run import LOGIN, PASSWORD, Database, Pass, body, known_reset_requests, thread_cpu, ticket_requests
from bench.seed import email

EXPECT = {"login": b"LoginSuccess", "reset": b"PasswordResetRequested", "ticket": b"SupportTicketSubmitted"}
ACCOUNTS = 1000


class WaitingPasswords:
    """Stands in for `core.hashing.Passwords` in the sign-in: the check is a wait, and a known account passes."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def verify(self, stored: str | None, _password: str) -> bool:
        await asyncio.sleep(self.seconds)
        return stored is not None

    def needs_rehash(self, _stored: str) -> bool:
        return False


def bodies(figure: str, count: int) -> list[bytes]:
    if figure == "login":
        return [body(LOGIN, {"i": email(i % ACCOUNTS), "p": PASSWORD}).encode() for i in range(count)]
    requests = known_reset_requests(ACCOUNTS) if figure == "reset" else ticket_requests(count)
    return [requests[i % len(requests)].body.encode() for i in range(count)]


async def call(app: Any, payload: bytes, client_address: str) -> bytes:
    """One POST /graphql through the ASGI app, as uvicorn would hand it over."""
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": payload, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        return {}

    answer: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        answer.append(message.get("body", b""))

    headers = [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
               (b"content-length", str(len(payload)).encode()), (b"x-forwarded-for", client_address.encode())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/graphql", "raw_path": b"/graphql", "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}
    await app(scope, receive, send)
    return b"".join(answer)


async def measure(figure: str, count: int, concurrency: int, wait: float | None) -> dict[str, float]:
    from portal.api import db
    from portal.api.app import create_app
    from portal.core.clock import Clock
    from portal.core.runtime import Runtime
    from portal.core.settings import load_settings

    settings = load_settings()
    await db.connect(settings)
    try:
        rt = Runtime(settings, Clock())
        if wait is not None:
            rt.passwords = WaitingPasswords(wait)  # type: ignore[assignment]
        app = create_app(runtime=rt, manage_database=False)
        work = list(enumerate(bodies(figure, count + 20)))
        work.reverse()

        async def worker(n: int) -> None:
            for _ in range(n):
                i, payload = work.pop()
                answer = await call(app, payload, f"10.{i // 62500 % 250}.{i // 250 % 250}.{i % 250 + 1}")
                if EXPECT[figure] not in answer:
                    raise RuntimeError(f"unexpected answer: {answer[:300]!r}")

        await worker(20)  # warm-up: the plans, the caches, the first connection
        before, started = thread_cpu(os.getpid()), time.perf_counter()
        per_worker = count // concurrency
        await asyncio.gather(*(worker(per_worker) for _ in range(concurrency)))
        done = per_worker * concurrency
        wall, after = time.perf_counter() - started, thread_cpu(os.getpid())
        loop = os.getpid()  # the event loop runs on the main thread, whose id is the process's
        spent = {tid: cpu - before.get(tid, 0.0) for tid, cpu in after.items()}
        others = sorted((cpu for tid, cpu in spent.items() if tid != loop), reverse=True)
        return {
            "operations": done,
            "event_loop_ms": spent.get(loop, 0.0) / done * 1000,
            "busiest_other_thread_ms": (others[0] if others else 0.0) / done * 1000,
            "rest_ms": sum(others[1:]) / done * 1000,
            "wall_ms": wall / done * 1000,
        }
    finally:
        await db.disconnect()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inproc", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--figure", choices=sorted(EXPECT), default="login")
    parser.add_argument("--count", type=int, default=300, help="operations measured (default 300)")
    parser.add_argument("--concurrency", type=int, default=1, help="operations in flight (default 1)")
    parser.add_argument("--wait", type=float, default=None, help="sign-ins: a wait instead of the hash (seconds)")
    args = parser.parse_args(argv)
    if args.wait is not None and args.figure != "login":
        parser.error("--wait replaces the sign-in's hash: use it with --figure login")
    if args.concurrency < 1 or args.count < args.concurrency:
        parser.error("--count must be at least --concurrency, which must be at least 1")

    workdir = Path(tempfile.mkdtemp(prefix="portal-bench-inproc-"))
    (workdir / "data").mkdir()
    setup = Pass(db=Database("SQLite", f"sqlite://{workdir}/bench.sqlite3"), workdir=workdir, seconds=0,
                 accounts=ACCOUNTS, million=False, mutations=set(), log=log)
    setup.seed(failures=False)  # as `make bench` seeds
    os.environ.update(setup.env())  # and the server's configuration, for this process's app
    import uvloop

    result = uvloop.run(measure(args.figure, args.count, args.concurrency, args.wait))
    print(json.dumps({"figure": args.figure, "concurrency": args.concurrency, "wait": args.wait, **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
