"""Accounts, sign-in and sessions: thin resolvers over `identity`."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from portal.core.errors import Invalid, TooMany
from portal.core.i18n import t
from portal.identity import sessions as session_service
from portal.identity import signin
from portal.identity.challenge import SecondFactorNeeded
from portal.identity.sessions import IssuedSession
from portal.models.accounts import Account as AccountModel
from portal.models.accounts import Role as AccountRole
from portal.schema.context import Info
from portal.schema.errors import (
    InvalidCredentials,
    NotAuthenticated,
    TooManyAttempts,
    ValidationError,
    error,
    too_many,
    validation_error,
)

if TYPE_CHECKING:
    from portal.schema.passkeys import Passkey
    from portal.schema.residents import PersonalAccount
    from portal.schema.security import PendingEmailChange

strawberry.enum(AccountRole, name="AccountRole")  # the model's own enum, as GraphQL sees it


@strawberry.enum
class SecondFactorMethod(Enum):
    TOTP = "TOTP"
    RECOVERY_CODE = "RECOVERY_CODE"
    PASSKEY = "PASSKEY"


@strawberry.type
class LinkedIdentity:
    provider: str
    provider_name: str
    email: str | None
    linked_at: datetime


@strawberry.type
class Account:
    id: strawberry.ID
    full_name: str
    email: str | None
    email_verified: bool
    phone: str | None
    login: str | None
    role: AccountRole
    has_password: bool

    @strawberry.field
    async def linked_identities(self, info: Info) -> list[LinkedIdentity]:
        """Queried only when selected, so `me` stays one cheap lookup."""
        from uuid import UUID

        from portal.identity.federation import linked_identities

        links = await linked_identities(info.context.rt, UUID(str(self.id)))
        return [LinkedIdentity(provider=x.provider, provider_name=x.provider_name, email=x.email, linked_at=x.linked_at)
                for x in links]

    @strawberry.field(description="The personal accounts (лицевые счета) this account holds.")
    async def personal_accounts(self, info: Info) -> list[Annotated[
        PersonalAccount, strawberry.lazy("portal.schema.residents")
    ]]:
        from uuid import UUID

        from portal.identity.personal_accounts import holdings_of
        from portal.schema.residents import PersonalAccount

        return [PersonalAccount.from_holding(h) for h in await holdings_of(UUID(str(self.id)))]

    @strawberry.field(description="An e-mail change waiting for its link to be opened at the new address.")
    async def pending_email_change(self, info: Info) -> Annotated[
        PendingEmailChange, strawberry.lazy("portal.schema.security")
    ] | None:
        from portal.schema.security import pending_email_change

        return await pending_email_change(info, self.id)

    @strawberry.field(description="The second factors in use (TOTP, recovery codes left, passkeys).")
    async def second_factors(self, info: Info) -> list[SecondFactorMethod]:
        from portal.identity.challenge import second_factors

        if info.context.account is None or str(info.context.account.id) != str(self.id):
            return []
        return [SecondFactorMethod(m) for m in await second_factors(self.id)]

    @strawberry.field(description="Your passkeys, with their names and last use.")
    async def passkeys(self, info: Info) -> list[Annotated[Passkey, strawberry.lazy("portal.schema.passkeys")]]:
        from portal.schema.passkeys import account_passkeys

        return await account_passkeys(info, self.id)

    @classmethod
    def from_model(cls, account: AccountModel) -> Account:
        return cls(**account_fields(account))


def account_fields(account: AccountModel) -> dict[str, Any]:
    """What `Account` and the staff's `AccountRecord` both show of an account, read the same way."""
    return {
        "id": strawberry.ID(str(account.id)),
        "full_name": account.full_name,
        "email": account.email,
        "email_verified": account.email_verified,
        "phone": account.phone,
        "login": account.login,
        "role": AccountRole(str(account.role)),  # models.accounts.Role is a StrEnum: str() is the stored value
        "has_password": account.password_hash is not None,
    }


@strawberry.type
class Session:
    access_token: str
    refresh_token: str
    expires_at: datetime
    account: Account

    @classmethod
    def from_issued(cls, issued: IssuedSession) -> Session:
        return cls(
            access_token=issued.access_token,
            refresh_token=issued.refresh_token,
            expires_at=issued.expires_at,
            account=Account.from_model(issued.account),
        )


@strawberry.type
class LoginSuccess:
    session: Session


@strawberry.type(description="The password was right; finish with `verifySecondFactor(challenge, code)` in 5 min.")
class SecondFactorRequired:
    challenge: str
    methods: list[SecondFactorMethod]


@strawberry.type
class LoggedOut:
    message: str


LoginResult = Annotated[
    LoginSuccess | SecondFactorRequired | InvalidCredentials | TooManyAttempts | ValidationError,
    strawberry.union("LoginResult"),
]
LogoutResult = Annotated[LoggedOut | NotAuthenticated, strawberry.union("LogoutResult")]


def login_result(outcome: object, info: Info) -> LoginResult:
    """Maps any sign-in outcome (password, refresh, mobile code) onto the LoginResult union."""
    lang = info.context.lang
    if isinstance(outcome, IssuedSession):
        info.context.on_session_change(outcome)
        return LoginSuccess(session=Session.from_issued(outcome))
    if isinstance(outcome, SecondFactorNeeded):
        return SecondFactorRequired(
            challenge=outcome.challenge, methods=[SecondFactorMethod(m) for m in outcome.methods]
        )
    if isinstance(outcome, TooMany):
        return too_many(outcome, lang)
    if isinstance(outcome, Invalid):
        return validation_error(outcome, lang)
    return error(InvalidCredentials, lang)


@strawberry.type
class IdentityQuery:
    @strawberry.field(description="The signed-in account; null when not signed in.")
    def me(self, info: Info) -> Account | None:
        account = info.context.account
        return Account.from_model(account) if account else None


@strawberry.type
class IdentityMutation:
    @strawberry.mutation(description="Sign in with an e-mail, phone number or login name and a password.")
    async def login(self, info: Info, identifier: str, password: str) -> LoginResult:
        ctx = info.context
        return login_result(await signin.login(ctx.rt, identifier, password, ctx.client), info)

    @strawberry.mutation(description="Trade a refresh token for a new pair; each refresh token works once.")
    async def refresh_session(self, info: Info, refresh_token: str) -> LoginResult:
        ctx = info.context
        issued = await session_service.rotate(ctx.rt, refresh_token, ctx.client)
        return login_result(issued, info)

    @strawberry.mutation(description="End the current session (its access and refresh tokens).")
    async def logout(self, info: Info) -> LogoutResult:
        ctx = info.context
        if ctx.session is None:
            return error(NotAuthenticated, ctx.lang)
        await session_service.revoke_sessions(ctx.rt, session_ids=[ctx.session.id])
        ctx.on_session_change(None)
        return LoggedOut(message=t("LoggedOut", ctx.lang))
