"""Who is on the other end of a request, as far as the services need to know."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ClientInfo:
    address: str | None = None
    user_agent: str | None = None
    locale: str = "ru"
