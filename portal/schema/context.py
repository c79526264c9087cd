"""What every resolver gets: the runtime, the caller, the client and a way to set the session cookie."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from strawberry.types import Info as StrawberryInfo

from portal.core.client import ClientInfo
from portal.core.runtime import Runtime
from portal.identity.sessions import IssuedSession
from portal.models.accounts import Account, Session


class Caller:
    """Who asks, as a GraphQL operation's context and a web page's visit (api/pages/web.py) both know it:
    the client (whose language the answer speaks) and, when signed in, the session (whose account it is)."""

    client: ClientInfo
    session: Session | None

    @property
    def lang(self) -> str:
        return self.client.locale

    @property
    def account(self) -> Account | None:
        return self.session.account if self.session else None


@dataclass
class Context(Caller):
    rt: Runtime
    client: ClientInfo
    request_id: str
    session: Session | None = None  # resolved by the HTTP layer before the operation runs
    # Called by sign-in and sign-out so the HTTP layer can set or clear the browser's cookie.
    on_session_change: Callable[[IssuedSession | None], None] = lambda _issued: None
    extras: dict[str, Any] = field(default_factory=dict)
    # Other cookies a resolver asks the HTTP layer to set: (name, value, max_age); always HttpOnly,
    # SameSite=Lax, Path=/, and Secure outside plain-http loopback development (see `set_cookie`).
    cookies: list[tuple[str, str, int]] = field(default_factory=list)

    def set_cookie(self, name: str, value: str, max_age: int) -> None:
        """E.g. the federated sign-in's browser binding; applied to the response by api/graphql.py."""
        self.cookies.append((name, value, max_age))


Info = StrawberryInfo[Context, None]
