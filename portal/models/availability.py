"""Telling a database that cannot be reached from a bug: the first is a 503 with Retry-After, never a traceback."""

from __future__ import annotations


def is_unavailable(exc: BaseException | None) -> bool:
    """True when `exc` (or what caused it) says the database cannot be reached, as opposed to a bug.

    Refused or lost connections, a server shutting down or starting up, a pool that cannot connect in
    time: the request is answered 503 with Retry-After and the pool reconnects by itself later.
    """
    import asyncpg
    from tortoise.exceptions import DBConnectionError

    unavailable = (
        OSError,  # refused, reset, unreachable, name resolution (ConnectionError is one)
        TimeoutError,
        DBConnectionError,
        asyncpg.exceptions.PostgresConnectionError,
        asyncpg.exceptions.InterfaceError,  # "connection is closed", "connection was closed in the middle of operation"
        asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now (starting up)
        asyncpg.exceptions.InsufficientResourcesError,  # too many connections
    )
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, unavailable):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False
