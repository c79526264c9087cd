"""The `portal` command: serve, migrate, print the schema, and the operators' account tools."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence

from api.settings import Settings, SettingsError, load_settings

EXIT_BAD_INPUT = 2


class CommandError(Exception):
    """A clear message for the operator and exit code 2."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
        return int(args.handler(settings, args) or 0)
    except SettingsError as exc:
        print(f"portal: configuration error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except CommandError as exc:
        print(f"portal: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="portal", description="The residents' account service.")
    sub = parser.add_subparsers(dest="command")

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

    accounts = sub.add_parser("accounts", help="manage accounts").add_subparsers(dest="accounts_command")
    create = accounts.add_parser("create", help="create a local account; prints its id")
    create.add_argument("--email")
    create.add_argument("--phone")
    create.add_argument("--login")
    create.add_argument("--full-name", required=True)
    create.add_argument("--role", choices=["resident", "staff", "admin"], default="resident")
    secret = create.add_mutually_exclusive_group(required=True)
    secret.add_argument("--password")
    secret.add_argument("--password-stdin", action="store_true")
    create.set_defaults(handler=cmd_accounts_create)

    from api.cli_staff import register_account_commands, register_audit_commands  # the operators' desk tools

    register_account_commands(accounts)
    register_audit_commands(sub)

    from api.cli_oidc import register_oidc_commands  # partner single sign-on: clients and signing keys

    register_oidc_commands(sub)
    for register in EXTRA_COMMANDS:
        register(sub)
    return parser


# Other modules add their sub-commands here (e.g. the OpenID Provider's `oidc-clients`).
EXTRA_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []  # type: ignore[type-arg]


def run_with_database(settings: Settings, work: Callable[[], Awaitable[int]]) -> int:
    from api import db

    async def runner() -> int:
        await db.connect(settings)
        try:
            return await work()
        finally:
            await db.disconnect()

    return asyncio.run(runner())


def serve_options(host: str, port: int) -> dict[str, object]:
    """uvicorn's settings for `portal serve` (the benchmark's baseline apps run under the same)."""
    return dict(host=host, port=port, proxy_headers=False, server_header=False, log_level="info")


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    options = serve_options(args.host, args.port)
    if args.workers > 1:
        uvicorn.run("api.asgi:app", workers=args.workers, **options)  # type: ignore[arg-type]
    else:
        from api.app import create_app

        uvicorn.run(create_app(settings), **options)  # type: ignore[arg-type]
    return 0


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from api import db

    asyncio.run(db.migrate(settings))
    print("migrations applied")
    return 0


def cmd_worker(settings: Settings, _args: argparse.Namespace) -> int:
    from api.background import run_worker
    from api.runtime import Runtime

    asyncio.run(run_worker(Runtime(settings)))
    return 0


def cmd_schema(_settings: Settings, _args: argparse.Namespace) -> int:
    from schema import build_schema

    print(build_schema().as_str())
    return 0


def cmd_accounts_create(settings: Settings, args: argparse.Namespace) -> int:
    from api.i18n import t
    from api.runtime import Runtime
    from identity.accounts import NewAccount, create_account
    from identity.errors import Invalid
    from models.accounts import Role

    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else args.password
    new = NewAccount(
        full_name=args.full_name,
        email=args.email,
        phone=args.phone,
        login=args.login,
        role=Role(args.role),
        password=password,
    )
    rt = Runtime(settings)

    async def work() -> int:
        result = await create_account(rt, new)
        if isinstance(result, Invalid):
            for p in result.problems:
                option = p.field.replace("fullName", "full-name")
                print(f"portal: --{option}: {p.code}: {t(p.code, 'en', **p.params)}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(result.id)
        return 0

    return run_with_database(settings, work)


if __name__ == "__main__":
    sys.exit(main())
