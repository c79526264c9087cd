"""Federated sign-in: the provider buttons, starting a sign-in, the mobile code exchange, unlinking."""

from __future__ import annotations

from typing import Annotated

import strawberry

from portal.core.errors import FieldCode, FieldProblem, Invalid
from portal.core.i18n import t
from portal.identity import federation
from portal.schema.context import Info
from portal.schema.errors import NotAuthenticated, ValidationError, error, validation_error
from portal.schema.identity import LoginResult, login_result

# The cookie that binds a started sign-in to this browser (see api/federation.py, which reads it back).
BINDING_COOKIE = "portal_fed"
BINDING_COOKIE_SECURE = "__Host-portal_fed"


def binding_cookie_name(secure: bool) -> str:
    return BINDING_COOKIE_SECURE if secure else BINDING_COOKIE


@strawberry.type
class IdentityProvider:
    id: str
    name: str


@strawberry.type
class FederatedSignInStarted:
    authorization_url: str


@strawberry.type
class IdentityUnlinked:
    message: str
    provider: str


StartFederatedSignInResult = Annotated[
    FederatedSignInStarted | ValidationError, strawberry.union("StartFederatedSignInResult")
]
UnlinkIdentityResult = Annotated[
    IdentityUnlinked | NotAuthenticated | ValidationError, strawberry.union("UnlinkIdentityResult")
]


@strawberry.type
class FederationQuery:
    @strawberry.field(description="The identity providers a resident may sign in with (the sign-in buttons).")
    def identity_providers(self, info: Info) -> list[IdentityProvider]:
        return [IdentityProvider(id=p.id, name=p.name) for p in info.context.rt.providers.configs.values()]


@strawberry.type
class FederationMutation:
    @strawberry.mutation(
        description="Start signing in through an identity provider; when signed in, links it to this account. "
        "Open `authorizationUrl` in the browser that made this call (a cookie binds the sign-in to it); a "
        "mobile app passes its own `returnTo` scheme and gets a one-time `code` there for `exchangeLoginCode`."
    )
    async def start_federated_sign_in(
        self, info: Info, provider: str, return_to: str | None = None
    ) -> StartFederatedSignInResult:
        ctx = info.context
        started = await federation.start(ctx.rt, provider, return_to, ctx.client, ctx.account)
        if isinstance(started, Invalid):
            return validation_error(started, ctx.lang)
        if started.binding is not None:
            secure = ctx.rt.settings.secure_cookies
            ctx.set_cookie(binding_cookie_name(secure), started.binding, federation.FLOW_TTL)
        return FederatedSignInStarted(authorization_url=started.authorization_url)

    @strawberry.mutation(description="Trade the one-time code a mobile app got after federated sign-in for a session.")
    async def exchange_login_code(self, info: Info, code: str) -> LoginResult:
        ctx = info.context
        outcome = await federation.exchange_login_code(ctx.rt, code, ctx.client, ctx.account)
        # A refused code is answered as InvalidCredentials, like every other refused credential.
        return login_result(None if isinstance(outcome, federation.CodeRefused) else outcome, info)

    @strawberry.mutation(description="Unlink an identity provider from the signed-in account (never the last way in).")
    async def unlink_identity(self, info: Info, provider: str) -> UnlinkIdentityResult:
        ctx = info.context
        if ctx.account is None:
            return error(NotAuthenticated, ctx.lang)
        outcome = await federation.unlink(ctx.rt, ctx.account, provider, ctx.client)
        if isinstance(outcome, federation.NotLinked):
            return validation_error(FieldProblem("provider", FieldCode.NOT_LINKED), ctx.lang)
        if isinstance(outcome, federation.LastWayToSignIn):
            return validation_error(FieldProblem("provider", FieldCode.LAST_SIGN_IN_METHOD), ctx.lang)
        return IdentityUnlinked(message=t("IdentityUnlinked", ctx.lang), provider=outcome.provider)
