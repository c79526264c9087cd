"""`requestPasswordReset` and `resetPassword`: thin resolvers over `identity.reset`."""

from __future__ import annotations

from typing import Annotated

import strawberry

from portal.core.errors import Invalid, TooMany
from portal.core.i18n import t, tn
from portal.identity import reset as reset_service
from portal.schema.context import Info
from portal.schema.errors import InvalidToken, TooManyAttempts, ValidationError, error, too_many, validation_error


@strawberry.type
class PasswordResetRequested:
    message: str


@strawberry.type
class PasswordResetSucceeded:
    message: str


RequestPasswordResetResult = Annotated[
    PasswordResetRequested | TooManyAttempts | ValidationError, strawberry.union("RequestPasswordResetResult")
]
ResetPasswordResult = Annotated[
    PasswordResetSucceeded | InvalidToken | ValidationError | TooManyAttempts, strawberry.union("ResetPasswordResult")
]


@strawberry.type
class ResetMutation:
    @strawberry.mutation(
        description="Mail a single-use reset link. The same answer, in the same time, whoever the identifier names."
    )
    async def request_password_reset(self, info: Info, identifier: str) -> RequestPasswordResetResult:
        ctx = info.context
        outcome = await reset_service.request_password_reset(ctx.rt, identifier, ctx.client)
        if isinstance(outcome, TooMany):
            return too_many(outcome, ctx.lang)
        if isinstance(outcome, Invalid):
            return validation_error(outcome, ctx.lang)
        minutes = ctx.rt.settings.reset_token_ttl // 60
        return PasswordResetRequested(message=tn("PasswordResetRequested", minutes, ctx.lang, minutes=minutes))

    @strawberry.mutation(
        description="Set a new password with a mailed token. Ends every session of the account; no automatic sign-in."
    )
    async def reset_password(
        self, info: Info, token: str, new_password: str, new_password_confirmation: str
    ) -> ResetPasswordResult:
        ctx = info.context
        outcome = await reset_service.reset_password(ctx.rt, token, new_password, new_password_confirmation, ctx.client)
        if isinstance(outcome, reset_service.PasswordReset):
            return PasswordResetSucceeded(message=t("PasswordResetSucceeded", ctx.lang))
        if isinstance(outcome, TooMany):
            return too_many(outcome, ctx.lang)
        if isinstance(outcome, Invalid):
            return validation_error(outcome, ctx.lang)
        return error(InvalidToken, ctx.lang)
