"""Passkeys over GraphQL, for apps (issue 16): options and responses travel as WebAuthn JSON strings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from portal.core.i18n import t
from portal.identity import passkeys
from portal.models.security import Passkey as PasskeyModel
from portal.schema.context import Info
from portal.schema.errors import NotAuthenticated, ValidationError, error
from portal.schema.identity import LoginResult, login_result
from portal.schema.security import ReauthenticationRequired, refusal


@strawberry.type
class Passkey:
    id: strawberry.ID
    name: str
    created_at: datetime
    last_used_at: datetime | None
    backed_up: bool  # synced by the platform (survives the loss of one device)

    @classmethod
    def from_model(cls, row: PasskeyModel) -> Passkey:
        return cls(id=strawberry.ID(str(row.id)), name=row.name, created_at=row.created_at,
                   last_used_at=row.last_used_at, backed_up=row.backed_up)


@strawberry.type(description="Pass `optionsJson` to navigator.credentials (or the platform's passkey API).")
class PasskeyCeremonyStarted:
    challenge_id: str  # send it back with the response: it binds the answer to this ceremony
    options_json: str


@strawberry.type
class PasskeyAdded:
    passkey: Passkey


@strawberry.type
class PasskeyRemoved:
    message: str


StartPasskeyRegistrationResult = Annotated[
    PasskeyCeremonyStarted | ReauthenticationRequired | NotAuthenticated,
    strawberry.union("StartPasskeyRegistrationResult"),
]
AddPasskeyResult = Annotated[
    PasskeyAdded | ValidationError | ReauthenticationRequired | NotAuthenticated, strawberry.union("AddPasskeyResult")
]
RenamePasskeyResult = Annotated[
    PasskeyAdded | ValidationError | NotAuthenticated, strawberry.union("RenamePasskeyResult")
]
RemovePasskeyResult = Annotated[
    PasskeyRemoved | ValidationError | ReauthenticationRequired | NotAuthenticated,
    strawberry.union("RemovePasskeyResult"),
]


async def account_passkeys(info: Info, account_id: strawberry.ID) -> list[Passkey]:
    """`Account.passkeys`, only for the account's own session."""
    account = info.context.account
    if account is None or str(account.id) != str(account_id):
        return []
    return [Passkey.from_model(p) for p in await passkeys.list_passkeys(account.id)]


@strawberry.type
class PasskeyMutation:
    @strawberry.mutation(description="Options to create a passkey (after a recent proof).")
    async def start_passkey_registration(self, info: Info) -> StartPasskeyRegistrationResult:
        ctx = info.context
        if ctx.session is None:
            return error(NotAuthenticated, ctx.lang)
        outcome = await passkeys.start_registration(ctx.rt, ctx.session)
        if isinstance(outcome, passkeys.CeremonyStarted):
            return PasskeyCeremonyStarted(challenge_id=outcome.handle, options_json=outcome.options_json)
        return refusal(outcome, ctx.lang)  # type: ignore[return-value]  # the union holds the member refusal() picks

    @strawberry.mutation(description="The authenticator's answer (RegistrationResponseJSON) and a name for it.")
    async def add_passkey(self, info: Info, challenge_id: str, response_json: str, name: str) -> AddPasskeyResult:
        ctx = info.context
        if ctx.session is None:
            return error(NotAuthenticated, ctx.lang)
        outcome = await passkeys.finish_registration(ctx.rt, ctx.session, challenge_id, response_json, name, ctx.client)
        if isinstance(outcome, passkeys.PasskeyAdded):
            return PasskeyAdded(passkey=Passkey.from_model(outcome.passkey))
        return refusal(outcome, ctx.lang)  # type: ignore[return-value]  # the union holds the member refusal() picks

    @strawberry.mutation(description="Give one of your passkeys another name.")
    async def rename_passkey(self, info: Info, id: strawberry.ID, name: str) -> RenamePasskeyResult:
        ctx = info.context
        if ctx.session is None:
            return error(NotAuthenticated, ctx.lang)
        outcome = await passkeys.rename_passkey(ctx.rt, ctx.session, str(id), name)
        if isinstance(outcome, passkeys.PasskeyAdded):
            return PasskeyAdded(passkey=Passkey.from_model(outcome.passkey))
        return refusal(outcome, ctx.lang)  # type: ignore[return-value]  # the union holds the member refusal() picks

    @strawberry.mutation(description="Remove one of your passkeys (after a recent proof).")
    async def remove_passkey(self, info: Info, id: strawberry.ID) -> RemovePasskeyResult:
        ctx = info.context
        if ctx.session is None:
            return error(NotAuthenticated, ctx.lang)
        outcome = await passkeys.remove_passkey(ctx.rt, ctx.session, str(id), ctx.client)
        if isinstance(outcome, passkeys.PasskeyRemoved):
            return PasskeyRemoved(message=t("PasskeyRemoved", ctx.lang))
        return refusal(outcome, ctx.lang)  # type: ignore[return-value]  # the union holds the member refusal() picks

    @strawberry.mutation(description="Options to sign in with a passkey (no identifier needed).")
    async def start_passkey_sign_in(self, info: Info) -> PasskeyCeremonyStarted:
        outcome = await passkeys.start_authentication(info.context.rt)
        return PasskeyCeremonyStarted(challenge_id=outcome.handle, options_json=outcome.options_json)

    @strawberry.mutation(description="Finish a passkey sign-in with the AuthenticationResponseJSON: both factors.")
    async def finish_passkey_sign_in(self, info: Info, challenge_id: str, response_json: str) -> LoginResult:
        ctx = info.context
        return login_result(await passkeys.finish_authentication(ctx.rt, challenge_id, response_json, ctx.client), info)
