"""`portal serve|migrate|worker|schema`: running the service."""

from __future__ import annotations

import argparse
import asyncio

from portal.core.settings import Settings


def register_server_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    serve = sub.add_parser("serve", help="run the HTTP server (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(handler=cmd_serve)

    migrate = sub.add_parser("migrate", help="apply database migrations (idempotent)")
    migrate.set_defaults(handler=cmd_migrate)

    worker = sub.add_parser("worker", help="deliver queued mail (and run background jobs) until stopped")
    worker.set_defaults(handler=cmd_worker)

    schema = sub.add_parser("schema", help="print the GraphQL schema (SDL)")
    schema.set_defaults(handler=cmd_schema)


def serve_options(host: str, port: int) -> dict[str, object]:
    """uvicorn's settings for `portal serve` (the benchmark's baseline apps run under the same)."""
    return dict(host=host, port=port, proxy_headers=False, server_header=False, log_level="info")


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
        # Our own access line (api/observability.py) has the route, request id and real client, in JSON;
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
