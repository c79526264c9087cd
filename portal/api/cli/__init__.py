"""The `portal` command: serve, migrate, print the schema, and the operators' tools (`portal --help`)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from portal.api.cli.common import EXIT_BAD_INPUT, CommandError
from portal.api.cli.oidc import register_oidc_commands
from portal.api.cli.server import register_server_commands
from portal.api.cli.staff import register_account_commands, register_audit_commands
from portal.core.logs import configure_logging
from portal.core.settings import SettingsError, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="portal", description="The residents' account service.")
    sub = parser.add_subparsers(dest="command")
    register_server_commands(sub)
    register_account_commands(sub)  # accounts create, and the operators' desk tools
    register_audit_commands(sub)
    register_oidc_commands(sub)  # partner single sign-on: clients and signing keys
    return parser


if __name__ == "__main__":
    sys.exit(main())
