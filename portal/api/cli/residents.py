"""`portal residents import|activation-codes|invite`: the registry of personal accounts and how residents join.

See docs/registry.md for the file format and the operator's journey.
"""

from __future__ import annotations

import argparse
import csv
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portal.api.cli.common import (
    EXIT_BAD_INPUT,
    CommandError,
    add_command,
    add_group,
    run_with_database,
    run_with_runtime,
)
from portal.core.settings import Settings

if TYPE_CHECKING:
    from portal.core.runtime import Runtime

DEFAULT_CODE_DAYS = 90


def register_residents_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    commands = add_group(
        sub, "residents", "the registry of personal accounts, codes and invitations",
        "portal residents import registry.csv --dry-run",
    )

    imp = add_command(
        commands, "import", "import the registry (CSV or .xlsx); idempotent",
        ["portal residents import registry.csv --dry-run",
         "portal residents import registry.xlsx --skip-bad-rows --invite"],
        description="Import the registry of personal accounts (CSV in UTF-8 or Windows-1251, ; or , — or .xlsx). "
        "Every row is checked first; a bad row is reported as `row N: reason` and, without --skip-bad-rows, "
        "nothing is applied. The last line is created=N updated=N unchanged=N skipped=N.",
        handler=cmd_import,
    )
    imp.add_argument("file", type=Path, help="the registry file (.csv or .xlsx)")
    imp.add_argument("--dry-run", action="store_true", help="check and count, write nothing")
    imp.add_argument("--skip-bad-rows", action="store_true", help="apply the good rows, skip the bad ones")
    imp.add_argument("--invite", action="store_true", help="then mail an invitation to each row with an e-mail")
    imp.add_argument("--lang", choices=["ru", "en"], default="ru", help="language of reports and letters")

    codes = add_command(
        commands, "activation-codes", "a CSV of fresh codes for the bill; older codes die",
        "portal residents activation-codes --unclaimed -o codes.csv --valid-until 2027-03-31",
        handler=cmd_codes,
    )
    codes.add_argument("--unclaimed", action="store_true", required=True,
                       help="every personal account no resident has claimed yet")
    codes.add_argument("-o", "--output", type=Path, required=True, help="where to write the CSV")
    codes.add_argument("--valid-until", type=date.fromisoformat,
                       help=f"last day the codes work (YYYY-MM-DD; default: in {DEFAULT_CODE_DAYS} days)")

    invite = add_command(
        commands, "invite", "mail set-your-password links; a new link voids the older",
        "portal residents invite --pending",
        handler=cmd_invite,
    )
    invite.add_argument("--pending", action="store_true", required=True,
                        help="every imported resident with an e-mail who has not activated")
    invite.add_argument("--lang", choices=["ru", "en"], default="ru", help="language of the letters")


def _progress(total: int) -> tuple[Any, Any]:
    """A progress bar on a terminal (standard error, so standard output stays a clean report)."""
    if not sys.stderr.isatty():
        return None, None
    from rich.console import Console
    from rich.progress import Progress

    bar = Progress(transient=True, console=Console(stderr=True))
    task = bar.add_task("import", total=total)
    bar.start()
    return bar, lambda n: bar.advance(task, n)


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from portal.core.i18n import t
    from portal.identity.activation import send_invitations
    from portal.identity.registry import RegistryFileError, import_registry, read_registry

    try:
        rows = list(read_registry(args.file))
    except RegistryFileError as exc:
        raise CommandError(t(exc.key, args.lang, **exc.params)) from exc

    async def work(rt: Runtime) -> int:
        bar, advance = _progress(len(rows))
        try:
            report = await import_registry(rt, rows, dry_run=args.dry_run, skip_bad_rows=args.skip_bad_rows,
                                           progress=advance)
        finally:
            if bar is not None:
                bar.stop()
        for bad in report.bad:
            print(t("registry.row", args.lang, line=bad.line, reason=t(bad.reason, args.lang, **bad.params)))
        for line, number, changed in report.changes:
            print(t("registry.updated", args.lang, line=line, number=number, fields=", ".join(changed)))
        invited = 0
        if report.applied and args.invite:
            invited = await send_invitations(rt, report.numbers, lang=args.lang)
            print(t("registry.invited", args.lang, count=invited))
        if args.dry_run:
            print(t("registry.dry_run", args.lang))
        elif report.bad and not args.skip_bad_rows:
            print(t("registry.not_applied", args.lang), file=sys.stderr)
        print(report.summary())
        return EXIT_BAD_INPUT if report.bad and not args.skip_bad_rows else 0

    return run_with_runtime(settings, work)


def cmd_codes(settings: Settings, args: argparse.Namespace) -> int:
    from portal.core.runtime import Runtime
    from portal.identity.activation import issue_codes

    rt = Runtime(settings)
    last_day: date = args.valid_until or (rt.clock.now() + timedelta(days=DEFAULT_CODE_DAYS)).date()
    if last_day < rt.clock.now().date():
        raise CommandError(f"--valid-until {last_day.isoformat()} is in the past")
    # Valid through the whole last day, Moscow time or not: until its end in UTC+14, the earliest zone.
    valid_until = datetime.combine(last_day + timedelta(days=1), time(), tzinfo=UTC) - timedelta(hours=14)

    async def work() -> int:
        issued = await issue_codes(rt, valid_until)
        # UTF-8 with a BOM: Excel and billing systems open it with the Cyrillic intact.
        with args.output.open("w", encoding="utf-8-sig", newline="") as out:
            writer = csv.writer(out, delimiter=";")
            writer.writerow(["personal_account", "code", "valid_until", "address", "full_name"])
            for code in issued:
                writer.writerow([code.number, code.code, last_day.isoformat(), code.address, code.full_name or ""])
        print(f"codes={len(issued)} valid_until={last_day.isoformat()} file={args.output}")
        return 0

    return run_with_database(settings, work)


def cmd_invite(settings: Settings, args: argparse.Namespace) -> int:
    from portal.identity.activation import send_invitations

    async def work(rt: Runtime) -> int:
        print(f"invited={await send_invitations(rt, lang=args.lang)}")
        return 0

    return run_with_runtime(settings, work)
