"""The federated sign-in buttons on /login: one per configured identity provider."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from api.runtime import Runtime


def provider_buttons(rt: Runtime, next_path: str) -> list[dict[str, Any]]:
    """[{id, name}] for the login page; empty until identity providers are configured and supported."""
    return []


async def linked_identities(rt: Runtime, account_id: UUID) -> list[dict[str, Any]]:
    """[{provider_name, email, linked_at}] for the account page; empty until federated sign-in exists."""
    return []
