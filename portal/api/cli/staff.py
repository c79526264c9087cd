"""Operator commands: `portal accounts set-role|disable|enable|unlock|export|erase` and `portal audit prune`.

Each takes an account by id or by identifier (e-mail, phone, login), acts through the same services as the
staff GraphQL API, and is audited with no actor and `"via": "cli"`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from portal.api.cli.common import EXIT_BAD_INPUT, CommandError, run_with_database
from portal.core.i18n import code_message
from portal.core.settings import Settings


def register_account_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
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

    role = accounts.add_parser("set-role", help="change an account's role (its sessions end)")
    role.add_argument("account", help="account id, e-mail, phone or login")
    role.add_argument("--role", choices=["resident", "staff", "admin"], required=True)
    role.set_defaults(handler=cmd_set_role)

    disable = accounts.add_parser("disable", help="disable an account: sessions end, reset links die")
    disable.add_argument("account", help="account id, e-mail, phone or login")
    disable.add_argument("--reason")
    disable.set_defaults(handler=cmd_disable)

    enable = accounts.add_parser("enable", help="re-enable a disabled account")
    enable.add_argument("account", help="account id, e-mail, phone or login")
    enable.set_defaults(handler=cmd_enable)

    unlock = accounts.add_parser("unlock", help="lift the lock that repeated wrong passwords put on an account")
    unlock.add_argument("account", help="account id, e-mail, phone or login")
    unlock.set_defaults(handler=cmd_unlock)

    export = accounts.add_parser("export", help="write everything held about an account as JSON (152-FZ)")
    export.add_argument("account", help="account id, e-mail, phone or login")
    export.add_argument("--output", "-o", help="file to write (default: standard output)")
    export.set_defaults(handler=cmd_export)

    erase = accounts.add_parser("erase", help="erase an account's personal data and revoke all access (152-FZ)")
    erase.add_argument("account", help="account id, e-mail, phone or login")
    erase.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")
    erase.set_defaults(handler=cmd_erase)


def register_audit_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    audit = sub.add_parser("audit", help="the security log").add_subparsers(dest="audit_command")
    prune = audit.add_parser("prune", help="delete events older than PORTAL_AUDIT_RETENTION_DAYS")
    prune.add_argument("--older-than-days", type=int, help="override the retention period for this run")
    prune.set_defaults(handler=cmd_audit_prune)


def _with_account(settings: Settings, ref: str, work: Callable[[Any, Any], Awaitable[int]]) -> int:
    """Runs `work(rt, account)` against the database; an unknown account is exit code 2."""
    from portal.core.runtime import Runtime
    from portal.support.accounts import find_account_ref

    rt = Runtime(settings)

    async def runner() -> int:
        account = await find_account_ref(rt, ref)
        if account is None:
            print(f"portal: no account matches {ref!r}", file=sys.stderr)
            return EXIT_BAD_INPUT
        return await work(rt, account)

    return run_with_database(settings, runner)


def _outcome(result: Any, done: str) -> int:
    from portal.support.accounts import NotFound, Refused

    if isinstance(result, NotFound):
        print("portal: no such account", file=sys.stderr)
        return EXIT_BAD_INPUT
    if isinstance(result, Refused):
        print(f"portal: refused: {result.code}: {code_message(result.code, 'en')}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(done)
    return 0


def cmd_set_role(settings: Settings, args: argparse.Namespace) -> int:
    from portal.models.accounts import Role
    from portal.support.accounts import set_role

    async def work(rt: Any, account: Any) -> int:
        return _outcome(await set_role(rt, account.id, Role(args.role)), f"{account.id} role={args.role}")

    return _with_account(settings, args.account, work)


def cmd_disable(settings: Settings, args: argparse.Namespace) -> int:
    from portal.support.accounts import set_disabled

    async def work(rt: Any, account: Any) -> int:
        return _outcome(await set_disabled(rt, account.id, True, reason=args.reason), f"{account.id} disabled")

    return _with_account(settings, args.account, work)


def cmd_enable(settings: Settings, args: argparse.Namespace) -> int:
    from portal.support.accounts import set_disabled

    async def work(rt: Any, account: Any) -> int:
        return _outcome(await set_disabled(rt, account.id, False), f"{account.id} enabled")

    return _with_account(settings, args.account, work)


def cmd_unlock(settings: Settings, args: argparse.Namespace) -> int:
    from portal.support.accounts import unlock

    async def work(rt: Any, account: Any) -> int:
        return _outcome(await unlock(rt, account.id), f"{account.id} unlocked")

    return _with_account(settings, args.account, work)


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    from portal.models.audit import record
    from portal.support.privacy import export_account

    exported: list[str] = []

    async def work(rt: Any, account: Any) -> int:
        data = await export_account(rt, account.id)
        exported.append(json.dumps(data, ensure_ascii=False, indent=2))
        await record(rt, "account.exported", subject_id=account.id, details={"via": "cli"})
        return 0

    code = _with_account(settings, args.account, work)
    if code == 0 and args.output:
        path = Path(args.output)
        path.write_text(exported[0] + "\n", encoding="utf-8")
        path.chmod(0o600)
    elif code == 0:
        print(exported[0])
    return code


def cmd_erase(settings: Settings, args: argparse.Namespace) -> int:
    from portal.support.privacy import erase_account

    if not args.yes:
        raise CommandError("erasing personal data cannot be undone; repeat with --yes")

    async def work(rt: Any, account: Any) -> int:
        result = await erase_account(rt, account.id)
        return _outcome(result, f"{account.id} erased: {json.dumps(result)}")

    return _with_account(settings, args.account, work)


def cmd_audit_prune(settings: Settings, args: argparse.Namespace) -> int:
    from portal.core.runtime import Runtime
    from portal.support.audit import prune

    if args.older_than_days is not None and args.older_than_days < 1:
        raise CommandError("--older-than-days must be at least 1")
    rt = Runtime(settings)

    async def work() -> int:
        deleted = await prune(rt, args.older_than_days)
        print(f"deleted {deleted} audit events older than {args.older_than_days or settings.audit_retention_days} days")
        return 0

    return run_with_database(settings, work)


def cmd_accounts_create(settings: Settings, args: argparse.Namespace) -> int:
    from portal.core.errors import Invalid
    from portal.core.runtime import Runtime
    from portal.identity.accounts import NewAccount, create_account
    from portal.models.accounts import Role

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
                print(f"portal: --{option}: {p.code}: {code_message(p.code, 'en', **p.params)}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(result.id)
        return 0

    return run_with_database(settings, work)
