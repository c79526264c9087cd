"""Database lifecycle: migrations, connecting, closing."""

from __future__ import annotations

import logging
from pathlib import Path

from tortoise import Tortoise
from tortoise.migrations.api import migrate as tortoise_migrate

from portal.core.settings import Settings
from portal.models import tortoise_config
from portal.models.postgres import is_postgres

log = logging.getLogger("portal.db")


def _ensure_sqlite_dir(url: str) -> None:
    if url.startswith("sqlite://") and ":memory:" not in url:
        Path(url.removeprefix("sqlite://").split("?", 1)[0]).parent.mkdir(parents=True, exist_ok=True)


async def migrate(settings: Settings) -> None:
    """Applies every migration not applied yet; running it twice changes nothing."""
    _ensure_sqlite_dir(settings.database_url)
    try:
        await tortoise_migrate(config=tortoise_config(settings.database_url))
    finally:
        await Tortoise.close_connections()
    if is_postgres(settings.database_url):
        await _postgres_extras(settings)


async def _postgres_extras(settings: Settings) -> None:
    """Idempotent PostgreSQL-only statements the generated migration cannot hold: search indexes, and the
    triggers that report session and account changes (without them the session cache stays off)."""
    from tortoise.connection import get_connection

    from portal.models.changes import POSTGRES_TRIGGERS
    from portal.models.desk import POSTGRES_EXTRAS

    await connect(settings)
    try:
        for statement in (*POSTGRES_EXTRAS, *POSTGRES_TRIGGERS):
            try:
                await get_connection("default").execute_script(statement)
            except Exception as exc:  # noqa: BLE001 - e.g. no right to create the extension: search stays correct
                log.warning("skipped %r: %s", statement[:60], exc)
    finally:
        await Tortoise.close_connections()


async def connect(settings: Settings) -> None:
    _ensure_sqlite_dir(settings.database_url)
    await Tortoise.init(config=tortoise_config(settings.database_url), _enable_global_fallback=True)


async def disconnect() -> None:
    await Tortoise.close_connections()




async def ping() -> bool:
    from tortoise.connection import get_connection

    try:
        await get_connection("default").execute_query("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 - readiness answers "no" for any database failure
        return False
