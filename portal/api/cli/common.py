"""What every `portal` sub-command shares: the exit code for bad input, the operator's error, a database session."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeAlias

from portal.core.settings import Settings

if TYPE_CHECKING:
    from portal.core.runtime import Runtime

EXIT_BAD_INPUT = 2


class CommandError(Exception):
    """A clear message for the operator and exit code 2."""


def run_with_database(settings: Settings, work: Callable[[], Awaitable[int]]) -> int:
    from portal.api import db

    async def runner() -> int:
        await db.connect(settings)
        try:
            return await work()
        finally:
            await db.disconnect()

    return asyncio.run(runner())


def run_with_runtime(settings: Settings, work: Callable[[Runtime], Awaitable[int]]) -> int:
    """`work(rt)` with a runtime of these settings, against the database."""
    from portal.core.runtime import Runtime

    rt = Runtime(settings)
    return run_with_database(settings, lambda: work(rt))


Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_command(
    sub: Subcommands,
    name: str,
    help: str,
    example: str | list[str],
    description: str = "",
    *,
    handler: Callable[[Settings, argparse.Namespace], int] | None = None,
) -> argparse.ArgumentParser:
    """A sub-command whose `--help` reads as a newcomer expects: what it does, its options, then an example.

    `help` is the one line in the parent's list; `description` (default: `help`) heads the command's own
    help; `example` is one command line or several, shown verbatim under "example:"; `handler` runs it.
    """
    lines = [example] if isinstance(example, str) else example
    command = sub.add_parser(
        name,
        help=help,
        description=description or help[0].upper() + help[1:] + ".",
        epilog="example:\n" + "\n".join(f"  {line}" for line in lines),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if handler is not None:
        command.set_defaults(handler=handler)
    return command


def add_group(sub: Subcommands, name: str, help: str, example: str | list[str], description: str = "") -> Subcommands:
    """A command that only holds sub-commands (`portal accounts …`); alone it prints its own help."""
    group = add_command(sub, name, help, example, description)
    group.set_defaults(help_parser=group)
    return group.add_subparsers(dest=f"{name.replace('-', '_')}_command", metavar="COMMAND")
