"""The resident's own security (issue 16): password, e-mail, re-authentication; thin resolvers over `identity`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from portal.core.errors import Invalid, TooMany
from portal.core.i18n import t
from portal.identity import email_address, password_change, proofs, second_factor, totp
from portal.identity.signin import BadCredentials
from portal.schema.context import Info
from portal.schema.errors import (
    Error,
    InvalidCredentials,
    InvalidToken,
    NotAuthenticated,
    TooManyAttempts,
    ValidationError,
    error,
    too_many,
    validation_error,
)
from portal.schema.identity import Account, LoginResult, login_result


@strawberry.type
class ReauthenticationRequired(Error):
    pass


@strawberry.type
class PasswordChanged:
    message: str


@strawberry.type
class EmailChangeRequested:
    message: str


@strawberry.type
class EmailConfirmed:
    account: Account


@strawberry.type
class EmailChangeCancelled:
    message: str


@strawberry.type
class Reauthenticated:
    message: str


@strawberry.type
class PendingEmailChange:
    new_email: str
    requested_at: datetime
    expires_at: datetime


ChangePasswordResult = Annotated[
    PasswordChanged | InvalidCredentials | ReauthenticationRequired | NotAuthenticated | ValidationError
    | TooManyAttempts,
    strawberry.union("ChangePasswordResult"),
]
RequestEmailChangeResult = Annotated[
    EmailChangeRequested | InvalidCredentials | ReauthenticationRequired | NotAuthenticated | ValidationError
    | TooManyAttempts,
    strawberry.union("RequestEmailChangeResult"),
]
ConfirmEmailResult = Annotated[EmailConfirmed | InvalidToken | TooManyAttempts, strawberry.union("ConfirmEmailResult")]
CancelEmailChangeResult = Annotated[
    EmailChangeCancelled | InvalidToken | TooManyAttempts, strawberry.union("CancelEmailChangeResult")
]
ReauthenticateResult = Annotated[
    Reauthenticated | InvalidCredentials | NotAuthenticated | TooManyAttempts | ValidationError,
    strawberry.union("ReauthenticateResult"),
]


def refusal(outcome: object, lang: str) -> Error:
    """The error member for a service's refusal (shared by every mutation of this module)."""
    if isinstance(outcome, proofs.ReauthNeeded):
        return error(ReauthenticationRequired, lang)
    if isinstance(outcome, BadCredentials):
        return error(InvalidCredentials, lang)
    if isinstance(outcome, TooMany):
        return too_many(outcome, lang)
    if isinstance(outcome, Invalid):
        return validation_error(outcome, lang)
    if isinstance(outcome, email_address.BadLink):
        return error(InvalidToken, lang)
    raise TypeError(f"no GraphQL error for {type(outcome).__name__}")


@strawberry.type
class SecurityMutation:
    @strawberry.mutation(
        description="Change (or, without one yet, set) the password. Every other session and partner grant ends."
    )
    async def change_password(
        self, info: Info, current_password: str, new_password: str, new_password_confirmation: str
    ) -> ChangePasswordResult:
        ctx = info.context
        if ctx.session is None:
            return error(NotAuthenticated, ctx.lang)
        outcome = await password_change.change_password(
            ctx.rt, ctx.session, current_password, new_password, new_password_confirmation, ctx.client
        )
        if isinstance(outcome, password_change.PasswordChanged):
            return PasswordChanged(message=t("PasswordChanged", ctx.lang))
        return refusal(outcome, ctx.lang)  # type: ignore[return-value]  # the union holds the member refusal() picks

    @strawberry.mutation(description="Mail a confirmation link to a new address; it changes when the link is opened.")
    async def request_email_change(self, info: Info, new_email: str, current_password: str) -> RequestEmailChangeResult:
        ctx = info.context
        if ctx.session is None:
            return error(NotAuthenticated, ctx.lang)
        outcome = await email_address.request_email_change(ctx.rt, ctx.session, new_email, current_password, ctx.client)
        if isinstance(outcome, email_address.ChangeRequested):
            return EmailChangeRequested(message=t("EmailChangeRequested", ctx.lang))
        return refusal(outcome, ctx.lang)  # type: ignore[return-value]  # the union holds the member refusal() picks

    @strawberry.mutation(description="Open the mailed link of an e-mail change: the account's address changes now.")
    async def confirm_email(self, info: Info, token: str) -> ConfirmEmailResult:
        ctx = info.context
        outcome = await email_address.confirm_email(ctx.rt, token, ctx.client)
        if isinstance(outcome, email_address.EmailConfirmed):
            return EmailConfirmed(account=Account.from_model(outcome.account))
        return refusal(outcome, ctx.lang)  # type: ignore[return-value]  # the union holds the member refusal() picks

    @strawberry.mutation(
        description="\"This was not me\" from the old address: cancels the change and ends every session."
    )
    async def cancel_email_change(self, info: Info, token: str) -> CancelEmailChangeResult:
        ctx = info.context
        outcome = await email_address.cancel_email_change(ctx.rt, token, ctx.client)
        if isinstance(outcome, email_address.ChangeCancelled):
            return EmailChangeCancelled(message=t("EmailChangeCancelled", ctx.lang))
        return refusal(outcome, ctx.lang)  # type: ignore[return-value]  # the union holds the member refusal() picks

    @strawberry.mutation(
        description="Prove again with the password or a second-factor code: sensitive changes open for 10 minutes."
    )
    async def reauthenticate(
        self, info: Info, password: str | None = None, code: str | None = None
    ) -> ReauthenticateResult:
        ctx = info.context
        if ctx.session is None:
            return error(NotAuthenticated, ctx.lang)
        outcome = await totp.prove_again(ctx.rt, ctx.session, password, code, ctx.client)
        if isinstance(outcome, proofs.Proved):
            return Reauthenticated(message=t("Reauthenticated", ctx.lang))
        return refusal(outcome, ctx.lang)  # type: ignore[return-value]  # the union holds the member refusal() picks


async def pending_email_change(info: Info, account_id: strawberry.ID) -> PendingEmailChange | None:
    """`Account.pendingEmailChange`, only for the account's own session (staff see it on the desk)."""
    ctx = info.context
    if ctx.account is None or str(ctx.account.id) != str(account_id):
        return None
    pending = await email_address.pending_change(ctx.rt, ctx.account.id)
    if pending is None:
        return None
    return PendingEmailChange(
        new_email=pending.new_email, requested_at=pending.requested_at, expires_at=pending.expires_at
    )


@strawberry.type
class TotpEnrollmentStarted:
    secret: str
    otpauth_uri: str


@strawberry.type
class TotpEnabled:
    recovery_codes: list[str]


@strawberry.type
class RecoveryCodesRegenerated:
    recovery_codes: list[str]


@strawberry.type
class TotpNotEnabled(Error):
    """There is no TOTP to change (`Forbidden` is kept for staff fields)."""


@strawberry.type
class TotpDisabled:
    message: str


StartTotpEnrollmentResult = Annotated[
    TotpEnrollmentStarted | ReauthenticationRequired | NotAuthenticated, strawberry.union("StartTotpEnrollmentResult")
]
ConfirmTotpEnrollmentResult = Annotated[
    TotpEnabled | ValidationError | NotAuthenticated | ReauthenticationRequired | TooManyAttempts,
    strawberry.union("ConfirmTotpEnrollmentResult"),
]
RegenerateRecoveryCodesResult = Annotated[
    RecoveryCodesRegenerated | ReauthenticationRequired | NotAuthenticated | TotpNotEnabled,
    strawberry.union("RegenerateRecoveryCodesResult"),
]
DisableTotpResult = Annotated[
    TotpDisabled | ReauthenticationRequired | NotAuthenticated | TotpNotEnabled, strawberry.union("DisableTotpResult")
]


def second_factor_refusal(outcome: object, lang: str) -> Error:
    if isinstance(outcome, totp.NotEnabled):
        return error(TotpNotEnabled, lang)
    return refusal(outcome, lang)


@strawberry.type
class SecondFactorMutation:
    @strawberry.mutation(description="A new TOTP secret for an authenticator app; confirm it with a first code.")
    async def start_totp_enrollment(self, info: Info) -> StartTotpEnrollmentResult:
        ctx = info.context
        if ctx.session is None:
            return error(NotAuthenticated, ctx.lang)
        outcome = await totp.start_enrollment(ctx.rt, ctx.session)
        if isinstance(outcome, totp.EnrollmentStarted):
            return TotpEnrollmentStarted(secret=outcome.secret, otpauth_uri=outcome.otpauth_uri)
        return refusal(outcome, ctx.lang)  # type: ignore[return-value]  # the union holds the member refusal() picks

    @strawberry.mutation(description="Turn TOTP on with the app's first code; answers ten recovery codes, shown once.")
    async def confirm_totp_enrollment(self, info: Info, code: str) -> ConfirmTotpEnrollmentResult:
        ctx = info.context
        if ctx.session is None:
            return error(NotAuthenticated, ctx.lang)
        outcome = await totp.confirm_enrollment(ctx.rt, ctx.session, code, ctx.client)
        if isinstance(outcome, totp.RecoveryCodes):
            return TotpEnabled(recovery_codes=outcome.codes)
        return refusal(outcome, ctx.lang)  # type: ignore[return-value]  # the union holds the member refusal() picks

    @strawberry.mutation(description="Ten new recovery codes (the old ones stop working); shown once.")
    async def regenerate_recovery_codes(self, info: Info) -> RegenerateRecoveryCodesResult:
        ctx = info.context
        if ctx.session is None:
            return error(NotAuthenticated, ctx.lang)
        outcome = await totp.regenerate_recovery_codes(ctx.rt, ctx.session, ctx.client)
        if isinstance(outcome, totp.RecoveryCodes):
            return RecoveryCodesRegenerated(recovery_codes=outcome.codes)
        return second_factor_refusal(outcome, ctx.lang)  # type: ignore[return-value]  # the union holds the member refusal() picks

    @strawberry.mutation(description="Turn TOTP off (and its recovery codes), after re-authenticating.")
    async def disable_totp(self, info: Info) -> DisableTotpResult:
        ctx = info.context
        if ctx.session is None:
            return error(NotAuthenticated, ctx.lang)
        outcome = await totp.disable(ctx.rt, ctx.session, ctx.client)
        if isinstance(outcome, totp.TotpOff):
            return TotpDisabled(message=t("TotpDisabled", ctx.lang))
        return second_factor_refusal(outcome, ctx.lang)  # type: ignore[return-value]  # the union holds the member refusal() picks

    @strawberry.mutation(description="Finish a sign-in that answered SecondFactorRequired: a TOTP or recovery code.")
    async def verify_second_factor(self, info: Info, challenge: str, code: str) -> LoginResult:
        ctx = info.context
        outcome = await second_factor.verify_second_factor(ctx.rt, challenge, code, ctx.client)
        return login_result(outcome, info)
