"""The baselines: a plain Starlette JSON endpoint, the indexed session read of `me` on its own, a bare
single-row ORM insert, and Argon2 on one core.

`python -m bench.baseline serve --port P` serves the three endpoints under `portal serve`'s uvicorn settings;
`python -m bench.baseline argon2 verify|hash --seconds S` prints operations per CPU second on one thread and
the share of a core the thread got.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator

PLAIN_ANSWER = {
    "data": {
        "me": {
            "id": "6f1c1f9e-3a51-4f0e-9d8a-4d9f0b2a7c11",
            "fullName": "Иван Петров",
            "email": "bench@example.com",
            "role": "RESIDENT",
        }
    }
}


def create_app():  # type: ignore[no-untyped-def]
    """Routes with nothing of ours in between: what the framework, the driver and the ORM cost on their own."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from portal.api import db
    from portal.core.clock import Clock
    from portal.core.runtime import Runtime
    from portal.core.settings import load_settings
    from portal.identity.sessions import ACCESS, _session_row
    from portal.models.audit import AuditEvent

    settings = load_settings()
    clock = Clock()
    # No session cache (no change feed is started here) and no SQLite data-version reuse (PORTAL_SESSION_CACHE
    # off for this runtime): every read below goes to the database.
    rt = Runtime(settings.model_copy(update={"session_cache": False}), clock)

    async def plain(request: Request) -> JSONResponse:
        json.loads(await request.body())
        return JSONResponse(PLAIN_ANSWER)

    async def insert(request: Request) -> JSONResponse:
        json.loads(await request.body())
        row = await AuditEvent.create(occurred_at=clock.now(), action="bench.insert", details={})
        return JSONResponse({"data": {"inserted": row.id}})

    async def session(request: Request) -> JSONResponse:
        """The database's own cost of `me`: the bearer token's keyed hash and the one indexed session read
        (`identity.sessions`' statement, through the same driver and connection pool, never from the session
        cache), answered as `me` is."""
        json.loads(await request.body())
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        row = await _session_row(rt, "access_hash", rt.tokens.digest(ACCESS, token))
        if row is None:
            return JSONResponse({"data": {"me": None}})
        account = row.account
        role = str(account.role).upper()
        me = {"id": str(account.id), "fullName": account.full_name, "email": account.email, "role": role}
        return JSONResponse({"data": {"me": me}})

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await db.connect(settings)
        try:
            yield
        finally:
            await db.disconnect()

    return Starlette(
        routes=[
            Route("/plain", plain, methods=["POST"]),
            Route("/session", session, methods=["POST"]),
            Route("/insert", insert, methods=["POST"]),
        ],
        lifespan=lifespan,
    )


def argon2_rate(operation: str, stored: str, password: str, seconds: float) -> dict[str, float]:
    """Verifies `password` against `stored` (or hashes it with the same parameters) on this thread: operations per
    CPU second, and the share of a core the thread got (CPU seconds over wall seconds)."""
    from argon2 import PasswordHasher, extract_parameters

    params = extract_parameters(stored)
    hasher = PasswordHasher(
        time_cost=params.time_cost,
        memory_cost=params.memory_cost,
        parallelism=params.parallelism,
        hash_len=params.hash_len,
        salt_len=params.salt_len,
        type=params.type,
    )
    work = (lambda: hasher.verify(stored, password)) if operation == "verify" else (lambda: hasher.hash(password))
    work()  # warm up
    count = 0
    start, cpu_start = time.perf_counter(), time.thread_time()
    while time.perf_counter() - start < seconds:
        work()
        count += 1
    cpu, wall = time.thread_time() - cpu_start, time.perf_counter() - start
    # Per CPU second: neighbours' load does not count; the share shows how much of it there was.
    return {"per_second": count / cpu, "cpu_share": cpu / wall}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--port", type=int, required=True)
    argon = sub.add_parser("argon2")
    argon.add_argument("operation", choices=["verify", "hash"])
    argon.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args(argv)

    if args.command == "serve":
        import uvicorn

        from portal.api.cli.server import serve_options

        uvicorn.run(create_app(), **serve_options("127.0.0.1", args.port))  # type: ignore[arg-type]
        return 0
    stored, password = sys.stdin.read().split("\n")[:2]
    print(json.dumps(argon2_rate(args.operation, stored, password, args.seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
