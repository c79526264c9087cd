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
from typing import TYPE_CHECKING, Any

from portal.api.cli.common import EXIT_BAD_INPUT, CommandError, Subcommands, add_command, add_group, run_with_runtime
from portal.core.i18n import code_message
from portal.core.settings import Settings

if TYPE_CHECKING:
    from portal.core.runtime import Runtime

ACCOUNT = "account id, e-mail, phone or login"
Handler = Callable[[Settings, argparse.Namespace], int]


def register_account_commands(sub: Subcommands) -> None:
    accounts = add_group(
        sub,
        "accounts",
        "create accounts and help their owners (roles, locks, 152-FZ export and erasure)",
        "portal accounts create --email ivan@example.ru --full-name 'Иван Петров' --password-stdin",
        description="Create accounts and act on them. An account is named by its id, e-mail, phone or login;\n"
        "every action is recorded in the security log.",
    )
    create = add_command(
        accounts,
        "create",
        "create a local account; prints its id",
        [
            "echo 'a long passphrase of your own' | portal accounts create --email ivan@example.ru \\",
            "    --phone '8 912 345-67-89' --login ivan --full-name 'Иван Петров' --password-stdin",
            "portal accounts create --email boss@example.ru --full-name 'Анна Смирнова' --role admin --password-stdin",
        ],
        description="Create a local account with a password and print its id. At least one of --email,\n"
        "--phone, --login; bad input or a duplicate is an error with exit code 2.",
        handler=cmd_accounts_create,
    )
    create.add_argument("--email", help="e-mail address (stored lower-case)")
    create.add_argument("--phone", help="phone in any common notation (read with PORTAL_DEFAULT_REGION)")
    create.add_argument("--login", help="login name (cannot look like an e-mail or a phone)")
    create.add_argument("--full-name", required=True, help="the person's name as shown to staff")
    create.add_argument(
        "--role", choices=["resident", "staff", "admin"], default="resident", help="(default: %(default)s)"
    )
    secret = create.add_mutually_exclusive_group(required=True)
    secret.add_argument("--password", help="the password (visible in the shell history: prefer --password-stdin)")
    secret.add_argument("--password-stdin", action="store_true", help="read the password from standard input")

    # The rest act on one account, named as ACCOUNT says.
    role = _account_command(
        accounts, "set-role", "change an account's role (its sessions end)",
        "portal accounts set-role ivan@example.ru --role staff", cmd_set_role,
    )
    role.add_argument("--role", choices=["resident", "staff", "admin"], required=True)
    disable = _account_command(
        accounts, "disable", "disable an account: sessions and partner tokens end, reset links die",
        "portal accounts disable ivan@example.ru --reason 'asked by the owner, ticket 2026-000123'", cmd_disable,
    )
    disable.add_argument("--reason", help="why, for the security log")
    _account_command(accounts, "enable", "re-enable a disabled account", "portal accounts enable ivan@example.ru",
                     cmd_enable)
    _account_command(accounts, "unlock", "lift the lock that repeated wrong passwords put on an account",
                     "portal accounts unlock +79123456789", cmd_unlock)
    export = _account_command(
        accounts, "export", "write everything held about an account as JSON (152-FZ)",
        "portal accounts export ivan@example.ru -o ivan.json", cmd_export,
        description="Write everything held about an account as JSON (152-FZ), without hashes or tokens.\n"
        "A file given with -o is created readable by its owner only.",
    )
    export.add_argument("--output", "-o", help="file to write (default: standard output)")
    erase = _account_command(
        accounts, "erase", "erase an account's personal data and revoke all access (152-FZ)",
        "portal accounts erase ivan@example.ru --yes", cmd_erase,
        description="Erase an account's personal data and revoke all access (152-FZ). The account stays as an\n"
        "empty, disabled tombstone; tickets are anonymised; the security log keeps a pseudonym.",
    )
    erase.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")


def _account_command(
    accounts: Subcommands, name: str, help: str, example: str, handler: Handler, description: str = ""
) -> argparse.ArgumentParser:
    """`portal accounts NAME ACCOUNT …`: the account comes first, as its id or an identifier."""
    command = add_command(accounts, name, help, example, description, handler=handler)
    command.add_argument("account", help=ACCOUNT)
    return command


def register_audit_commands(sub: Subcommands) -> None:
    audit = add_group(sub, "audit", "the security log", "portal audit prune")
    prune = add_command(
        audit,
        "prune",
        "delete events older than PORTAL_AUDIT_RETENTION_DAYS",
        [
            "portal audit prune                       # daily, from cron or a systemd timer",
            "portal audit prune --older-than-days 90",
        ],
        handler=cmd_audit_prune,
    )
    prune.add_argument("--older-than-days", type=int, help="override the retention period for this run")


def _with_account(settings: Settings, ref: str, work: Callable[[Any, Any], Awaitable[int]]) -> int:
    """Runs `work(rt, account)` against the database; an unknown account is exit code 2."""
    from portal.support.accounts import find_account_ref

    async def runner(rt: Runtime) -> int:
        account = await find_account_ref(rt, ref)
        if account is None:
            print(f"portal: no account matches {ref!r}", file=sys.stderr)
            return EXIT_BAD_INPUT
        return await work(rt, account)

    return run_with_runtime(settings, runner)


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
    from portal.support.audit import prune

    if args.older_than_days is not None and args.older_than_days < 1:
        raise CommandError("--older-than-days must be at least 1")

    async def work(rt: Runtime) -> int:
        deleted = await prune(rt, args.older_than_days)
        print(f"deleted {deleted} audit events older than {args.older_than_days or settings.audit_retention_days} days")
        return 0

    return run_with_runtime(settings, work)


def cmd_accounts_create(settings: Settings, args: argparse.Namespace) -> int:
    from portal.core.errors import Invalid
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

    async def work(rt: Runtime) -> int:
        result = await create_account(rt, new)
        if isinstance(result, Invalid):
            for p in result.problems:
                option = p.field.replace("fullName", "full-name")
                print(f"portal: --{option}: {p.code}: {code_message(p.code, 'en', **p.params)}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(result.id)
        return 0

    return run_with_runtime(settings, work)
