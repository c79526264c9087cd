"""Residents join: personal accounts, `activateAccount` and `confirmEmail`; thin resolvers over identity."""

from __future__ import annotations

from typing import Annotated

import strawberry

from portal.core.errors import Invalid, TooMany
from portal.identity.activation import Activated, ActivationRequest, activate
from portal.identity.personal_accounts import Holding
from portal.schema.context import Info
from portal.schema.errors import (
    Error,
    TooManyAttempts,
    ValidationError,
    error,
    too_many,
    validation_error,
)
from portal.schema.identity import Account, Session


@strawberry.type(description="A personal account (лицевой счёт) from the organisation's registry.")
class PersonalAccount:
    number: str
    address: str

    @classmethod
    def from_holding(cls, h: Holding) -> PersonalAccount:
        return cls(number=h.number, address=h.address)


@strawberry.type(description="A personal account as staff see it, with the registry's details.")
class PersonalAccountRecord(PersonalAccount):
    area: str | None
    share: str | None
    external_id: str | None

    @classmethod
    def from_holding(cls, h: Holding) -> PersonalAccountRecord:
        return cls(number=h.number, address=h.address, area=h.area, share=h.share, external_id=h.external_id)


@strawberry.type
class InvalidActivationCode(Error):
    """Wrong number, wrong code, used, expired, a bad invitation token: one answer."""


@strawberry.type
class AccountActivated:
    account: Account
    session: Session | None


@strawberry.input
class ActivateAccountInput:
    personal_account: str | None = None
    activation_code: str | None = None
    invitation_token: str | None = None
    email: str | None = None
    password: str
    password_confirmation: str
    personal_data_consent: bool


ActivateAccountResult = Annotated[
    AccountActivated | InvalidActivationCode | ValidationError | TooManyAttempts,
    strawberry.union("ActivateAccountResult"),
]


@strawberry.type
class ResidentsMutation:
    @strawberry.mutation(description="Claim a personal account with the code on the bill or a mailed invitation; "
                                     "creates the resident's account and signs in.")
    async def activate_account(self, info: Info, input: ActivateAccountInput) -> ActivateAccountResult:
        ctx = info.context
        outcome = await activate(ctx.rt, ActivationRequest(
            personal_account=input.personal_account, activation_code=input.activation_code,
            invitation_token=input.invitation_token, email=input.email, password=input.password,
            password_confirmation=input.password_confirmation, personal_data_consent=input.personal_data_consent,
        ), ctx.client, signed_in=ctx.account)
        if isinstance(outcome, Activated):
            ctx.on_session_change(outcome.session)
            return AccountActivated(account=Account.from_model(outcome.account),
                                    session=Session.from_issued(outcome.session))
        if isinstance(outcome, Invalid):
            return validation_error(outcome, ctx.lang)
        if isinstance(outcome, TooMany):
            return too_many(outcome, ctx.lang)
        return error(InvalidActivationCode, ctx.lang)
