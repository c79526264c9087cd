"""What every `portal` sub-command shares: the exit code for bad input, the operator's error, a database session."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from portal.core.settings import Settings

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
