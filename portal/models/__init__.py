"""Tortoise models, one module per aggregate, and the migrations that create them."""

from __future__ import annotations

MODEL_MODULES = [
    "portal.models.accounts",
    "portal.models.audit",
    "portal.models.desk",
    "portal.models.provider",
    "portal.models.mail",
    "portal.models.reset",
    "portal.models.security",
    "portal.models.federation",
    "portal.models.support",
]


def tortoise_config(database_url: str) -> dict[str, object]:
    from portal.models.postgres import connection_config

    return {
        "connections": {"default": connection_config(database_url)},
        "apps": {
            "models": {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": "portal.models.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


# For Tortoise's own CLI (`python -m tortoise -c models.TORTOISE_ORM makemigrations`); no connection is opened.
TORTOISE_ORM = tortoise_config("sqlite://:memory:")
