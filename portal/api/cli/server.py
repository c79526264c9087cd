"""`portal serve|migrate|worker|schema`: running the service."""

from __future__ import annotations

import argparse
import asyncio

from portal.api.cli.common import Subcommands, add_command
from portal.core.settings import Settings


def register_server_commands(sub: Subcommands) -> None:
    serve = add_command(
        sub,
        "serve",
        "run the web server: GraphQL, the residents' pages, single sign-on",
        [
            "portal serve                                          # http://127.0.0.1:8000, one process",
            "portal serve --host 0.0.0.0 --port 8000 --workers 4   # production, behind a TLS proxy",
        ],
        description="Run the HTTP server (uvicorn). Settings come from PORTAL_* variables or .env;\n"
        "without PORTAL_SMTP_URL letters are written to ./data/mail/ and every link is logged.",
        handler=cmd_serve,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    serve.add_argument("--workers", type=int, default=1, help="processes (default: %(default)s)")

    add_command(
        sub,
        "migrate",
        "create or upgrade the database tables (idempotent)",
        "PORTAL_DATABASE_URL=postgres://portal@db:5432/portal portal migrate",
        description="Apply the database migrations to PORTAL_DATABASE_URL. Safe to run again: it applies\n"
        "only what is missing. Run it once per release, before starting the new version.",
        handler=cmd_migrate,
    )

    add_command(
        sub,
        "worker",
        "deliver queued mail (and run background jobs) until stopped",
        "PORTAL_DELIVER_MAIL_IN_PROCESS=false portal worker",
        description="Deliver the outbox's letters and run housekeeping until stopped (Ctrl+C or SIGTERM).\n"
        "Any number may run at once. Use it with PORTAL_DELIVER_MAIL_IN_PROCESS=false on the servers.",
        handler=cmd_worker,
    )

    add_command(
        sub,
        "schema",
        "print the GraphQL schema (SDL)",
        "portal schema > schema.graphql",
        description="Print the whole GraphQL schema as SDL (the same text as docs/schema.graphql).",
        handler=cmd_schema,
    )


def serve_options(host: str, port: int) -> dict[str, object]:
    """uvicorn's settings for `portal serve` (the benchmark's baseline apps run under the same).

    uvicorn's access log is off: it writes query strings as received (reset tokens, ticket keys,
    `id_token_hint`); the app writes its own, redacted (api/logs.py).
    """
    return dict(host=host, port=port, proxy_headers=False, server_header=False, log_level="info", access_log=False)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from portal.api.cli.common import CommandError

    if args.workers > 1 and settings.metrics_port is not None:
        raise CommandError(
            "PORTAL_METRICS_PORT needs one port per process: run one `portal serve` per core, each with its own "
            "PORTAL_METRICS_PORT (docs/operations.md), instead of --workers"
        )
    options = serve_options(args.host, args.port)
    if settings.log_format == "json":
        # Our own access line (api/middleware.py) has the route, request id and real client, in JSON;
        # uvicorn's loggers then go through the root handler configured by `portal` too.
        options |= {"access_log": False, "log_config": None}
    if args.workers > 1:
        uvicorn.run("portal.api.asgi:app", workers=args.workers, **options)  # type: ignore[arg-type]
    else:
        from portal.api.app import create_app

        uvicorn.run(create_app(settings), **options)  # type: ignore[arg-type]
    return 0


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from portal.api import db

    asyncio.run(db.migrate(settings))
    print("migrations applied")
    return 0


def cmd_worker(settings: Settings, _args: argparse.Namespace) -> int:
    from portal.api.background import run_worker
    from portal.core.runtime import Runtime

    asyncio.run(run_worker(Runtime(settings)))
    return 0


def cmd_schema(_settings: Settings, _args: argparse.Namespace) -> int:
    from portal.schema import build_schema

    print(build_schema().as_str())
    return 0
