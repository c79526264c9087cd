"""The `portal` command: serve, migrate, print the schema, and the operators' tools (`portal --help`)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from portal.api.cli.common import EXIT_BAD_INPUT, CommandError
from portal.api.cli.oidc import register_oidc_commands
from portal.api.cli.residents import register_residents_commands
from portal.api.cli.server import register_server_commands
from portal.api.cli.staff import register_account_commands, register_audit_commands
from portal.core.logs import configure_logging
from portal.core.settings import SettingsError, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        getattr(args, "help_parser", parser).print_help()  # `portal accounts` alone: that group's commands
        return EXIT_BAD_INPUT
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
        configure_logging(settings.log_format)
        return int(args.handler(settings, args) or 0)
    except SettingsError as exc:
        print(f"portal: configuration error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except CommandError as exc:
        print(f"portal: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


EPILOG = """\
example: a first run on a laptop (what `make run` does, plus a first account)
  portal migrate
  portal accounts create --email ivan@example.ru --full-name 'Иван Петров' --password-stdin
  portal serve              # then open http://127.0.0.1:8000/login
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="portal",
        description="The residents' account service: GraphQL for web and mobile clients, the residents' pages,\n"
        "single sign-on for partners, and the operators' tools. Settings: PORTAL_* variables or .env\n"
        "(docs/configuration.md). `portal COMMAND --help` explains each command.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    register_server_commands(sub)
    register_account_commands(sub)  # accounts create, and the operators' desk tools
    register_audit_commands(sub)
    register_oidc_commands(sub)  # partner single sign-on: clients and signing keys
    register_residents_commands(sub)  # the registry of personal accounts, codes on the bill, invitations
    return parser


if __name__ == "__main__":
    sys.exit(main())
