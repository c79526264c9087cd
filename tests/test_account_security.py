"""The resident's own security over GraphQL (issue 16): re-authentication, change password, change e-mail.

Real database, real SMTP sink (letters delivered by the real delivery code), time moved by the test clock.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from portal.core.client import ClientInfo
from portal.identity.sessions import issue_session
from portal.identity.signin import SIGNIN_BACKOFF, account_key
from portal.models.accounts import Account
from tests.helpers import GQL, PASSWORD, PUBLIC_URL, client_at, drain, request_reset, reset, sign_in, token_from, unique

NEW_PASSWORD = "в лесу родилась ёлочка 2026"
CONFIRM_RE = re.compile(re.escape(PUBLIC_URL) + r"/confirm-email\?token=([A-Za-z0-9_\-.~]+)")
CANCEL_RE = re.compile(re.escape(PUBLIC_URL) + r"/cancel-email-change\?token=([A-Za-z0-9_\-.~]+)")

CHANGE_PASSWORD = """
mutation($c: String!, $p: String!, $q: String!) {
  changePassword(currentPassword: $c, newPassword: $p, newPasswordConfirmation: $q) {
    __typename ... on Error { message } ... on PasswordChanged { message }
    ... on ValidationError { fields { field code } } ... on TooManyAttempts { retryAfterSeconds } } }
"""
REQUEST_EMAIL = """
mutation($e: String!, $c: String!) { requestEmailChange(newEmail: $e, currentPassword: $c) {
  __typename ... on Error { message } ... on EmailChangeRequested { message }
  ... on ValidationError { fields { field code } } } }
"""
CONFIRM_EMAIL = """
mutation($t: String!) { confirmEmail(token: $t) {
  __typename ... on Error { message } ... on EmailConfirmed { account { email emailVerified } } } }
"""
CANCEL_EMAIL = """
mutation($t: String!) { cancelEmailChange(token: $t) { __typename ... on Error { message } } }
"""
REAUTH = """
mutation($p: String!) { reauthenticate(password: $p) { __typename ... on Error { message } } }
"""
REFRESH = """
mutation($r: String!) { refreshSession(refreshToken: $r) { ... on LoginSuccess { session { accessToken } } } }
"""
ME = "{ me { email emailVerified hasPassword pendingEmailChange { newEmail expiresAt } } }"


@pytest.fixture
async def anon(app) -> Any:
    """A client at an address of its own (per-client throttles of one test never touch another)."""
    async with client_at(app) as c:
        yield GQL(c)


async def signed_in(app: Any, identifier: str, password: str = PASSWORD) -> tuple[GQL, dict[str, str]]:
    """A fresh client signed in over GraphQL, and its bearer header."""
    c = client_at(app)
    gql = GQL(c)
    session = await sign_in(gql, identifier, password)
    return gql, {"Authorization": f"Bearer {session['accessToken']}"}


def bearer(session: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['accessToken']}"}


async def letters_to(rt, smtp_sink, address: str, count: int = 1):
    await drain(rt)
    return await smtp_sink.wait_for(address, count)


# ---- change password -------------------------------------------------------------------------------


async def test_change_password_ends_other_sessions_keeps_this_one_and_writes(app, rt, smtp_sink, make_account):
    account = await make_account()
    gql, auth = await signed_in(app, account.email)
    other, other_auth = await signed_in(app, account.email)
    await request_reset(other, account.email)  # a reset link mailed before the change
    reset_token = token_from((await letters_to(rt, smtp_sink, account.email))[-1])

    wrong = await gql(CHANGE_PASSWORD, {"c": "not my password", "p": NEW_PASSWORD, "q": NEW_PASSWORD}, headers=auth)
    assert wrong["changePassword"]["__typename"] == "InvalidCredentials"
    # A wrong current password counts toward the sign-in lock, like a failed sign-in.
    assert await rt.throttle.failures(SIGNIN_BACKOFF, account_key(account.id, "reauth")) == 1

    short = await gql(CHANGE_PASSWORD, {"c": PASSWORD, "p": "short", "q": "short"}, headers=auth)
    assert short["changePassword"]["fields"] == [{"field": "newPassword", "code": "PASSWORD_TOO_SHORT"}]
    mismatch = await gql(CHANGE_PASSWORD, {"c": PASSWORD, "p": NEW_PASSWORD, "q": NEW_PASSWORD + "!"}, headers=auth)
    assert mismatch["changePassword"]["fields"] == [{"field": "newPasswordConfirmation", "code": "PASSWORDS_DO_NOT_MATCH"}]
    own = await gql(CHANGE_PASSWORD, {"c": PASSWORD, "p": account.email + " 2026", "q": account.email + " 2026"},
                    headers=auth)
    assert own["changePassword"]["fields"][0]["code"] == "PASSWORD_CONTAINS_IDENTIFIER"

    done = await gql(CHANGE_PASSWORD, {"c": PASSWORD, "p": NEW_PASSWORD, "q": NEW_PASSWORD}, headers=auth)
    assert done["changePassword"]["__typename"] == "PasswordChanged"
    assert await rt.throttle.failures(SIGNIN_BACKOFF, account_key(account.id, "reauth")) == 0  # the success cleared it

    assert (await gql("{ me { email } }", headers=auth))["me"]["email"] == account.email  # this session stays
    assert (await other("{ me { email } }", headers=other_auth))["me"] is None  # the other one ended
    assert (await reset(other, reset_token, "another long passphrase 77"))["__typename"] == "InvalidToken"

    letter = (await letters_to(rt, smtp_sink, account.email, 2))[-1]
    assert "изменён" in letter.text and NEW_PASSWORD not in letter.text
    anon = GQL(client_at(app))
    await sign_in(anon, account.email, NEW_PASSWORD)
    old = await anon.raw(
        "mutation($i: String!, $p: String!) { login(identifier: $i, password: $p) { __typename } }",
        {"i": account.email, "p": PASSWORD},
    )
    assert old.json()["data"]["login"]["__typename"] == "InvalidCredentials"


async def test_change_password_needs_a_session(anon):
    data = await anon(CHANGE_PASSWORD, {"c": PASSWORD, "p": NEW_PASSWORD, "q": NEW_PASSWORD})
    assert data["changePassword"]["__typename"] == "NotAuthenticated"


async def test_a_federated_only_account_sets_a_password_after_a_recent_proof(app, rt, clock, smtp_sink, make_account):
    account = await make_account(password=None)
    issued = await issue_session(rt, account, ClientInfo(address="10.9.9.9"), "fed")
    auth = {"Authorization": f"Bearer {issued.access_token}"}
    gql = GQL(client_at(app))
    assert (await gql(ME, headers=auth))["me"]["hasPassword"] is False

    clock.advance(601)  # the sign-in's proof is older than 10 minutes
    stale = {"Authorization": f"Bearer {issued.access_token}"}
    late = await gql(CHANGE_PASSWORD, {"c": "", "p": NEW_PASSWORD, "q": NEW_PASSWORD}, headers=stale)
    assert late["changePassword"]["__typename"] == "ReauthenticationRequired"
    guessed = await gql(CHANGE_PASSWORD, {"c": "any password", "p": NEW_PASSWORD, "q": NEW_PASSWORD}, headers=stale)
    assert guessed["changePassword"]["__typename"] == "InvalidCredentials"

    fresh = await issue_session(rt, account, ClientInfo(address="10.9.9.9"), "fed")  # signed in again just now
    done = await gql(CHANGE_PASSWORD, {"c": "", "p": NEW_PASSWORD, "q": NEW_PASSWORD},
                     headers={"Authorization": f"Bearer {fresh.access_token}"})
    assert done["changePassword"]["__typename"] == "PasswordChanged"
    await sign_in(GQL(client_at(app)), account.email, NEW_PASSWORD)


# ---- re-authentication -----------------------------------------------------------------------------


async def test_reauthentication_after_ten_minutes(app, rt, clock, smtp_sink, make_account):
    account = await make_account()
    gql = GQL(client_at(app))
    session = await sign_in(gql, account.email)
    auth, refresh_token = bearer(session), session["refreshToken"]
    address = f"{unique('moved')}@example.ru"
    clock.advance(601)
    # Without the password, a proof older than 10 minutes is not enough (the server's record decides).
    data = await gql(REQUEST_EMAIL, {"e": address, "c": ""}, headers=auth)
    assert data["requestEmailChange"]["__typename"] == "ReauthenticationRequired"
    wrong = await gql(REAUTH, {"p": "not it"}, headers=auth)
    assert wrong["reauthenticate"]["__typename"] == "InvalidCredentials"
    assert (await gql(REAUTH, {"p": PASSWORD}, headers=auth))["reauthenticate"]["__typename"] == "Reauthenticated"
    data = await gql(REQUEST_EMAIL, {"e": address, "c": ""}, headers=auth)
    assert data["requestEmailChange"]["__typename"] == "EmailChangeRequested"
    clock.advance(601)
    # The access token has expired meanwhile: a refresh renews it, but a refresh is no proof of the person.
    refreshed = await gql(REFRESH, {"r": refresh_token})
    auth = bearer(refreshed["refreshSession"]["session"])
    again = await gql(REQUEST_EMAIL, {"e": address, "c": ""}, headers=auth)
    assert again["requestEmailChange"]["__typename"] == "ReauthenticationRequired"
    # The current password in the request itself is a proof.
    data = await gql(REQUEST_EMAIL, {"e": address, "c": PASSWORD}, headers=auth)
    assert data["requestEmailChange"]["__typename"] == "EmailChangeRequested"


# ---- change e-mail ---------------------------------------------------------------------------------


async def test_email_change_through_both_letters(app, rt, clock, smtp_sink, make_account):
    account = await make_account()
    old = account.email
    gql, auth = await signed_in(app, old)
    await request_reset(gql, old)
    reset_token = token_from((await letters_to(rt, smtp_sink, old))[-1])
    new = f"{unique('new')}@example.ru"

    bad = await gql(REQUEST_EMAIL, {"e": "not an address", "c": PASSWORD}, headers=auth)
    assert bad["requestEmailChange"]["fields"] == [{"field": "newEmail", "code": "INVALID_EMAIL"}]
    same = await gql(REQUEST_EMAIL, {"e": old.upper(), "c": PASSWORD}, headers=auth)
    assert same["requestEmailChange"]["fields"] == [{"field": "newEmail", "code": "SAME_EMAIL"}]
    wrong = await gql(REQUEST_EMAIL, {"e": new, "c": "not my password"}, headers=auth)
    assert wrong["requestEmailChange"]["__typename"] == "InvalidCredentials"

    data = await gql(REQUEST_EMAIL, {"e": "  " + new.upper() + " ", "c": PASSWORD}, headers=auth)
    assert data["requestEmailChange"]["__typename"] == "EmailChangeRequested"
    me = (await gql(ME, headers=auth))["me"]
    assert me["email"] == old and me["pendingEmailChange"]["newEmail"] == new  # nothing changed yet

    confirm_letter = (await letters_to(rt, smtp_sink, new))[-1]
    token = CONFIRM_RE.search(confirm_letter.text).group(1)
    notice = (await letters_to(rt, smtp_sink, old, 2))[-1]
    assert CANCEL_RE.search(notice.text) and new not in notice.text  # the old address sees it masked
    assert new[:2] + "***@example.ru" in notice.text

    assert (await gql(CONFIRM_EMAIL, {"t": "x" * 43}))["confirmEmail"]["__typename"] == "InvalidToken"
    done = await gql(CONFIRM_EMAIL, {"t": token})
    assert done["confirmEmail"] == {"__typename": "EmailConfirmed", "account": {"email": new, "emailVerified": True}}
    assert (await gql(CONFIRM_EMAIL, {"t": token}))["confirmEmail"]["__typename"] == "InvalidToken"  # single use
    me = (await gql(ME, headers=auth))["me"]
    assert me["email"] == new and me["pendingEmailChange"] is None
    # The reset link mailed to the old address died with the change.
    assert (await reset(gql, reset_token, "another long passphrase 77"))["__typename"] == "InvalidToken"
    await sign_in(GQL(client_at(app)), new)


async def test_this_was_not_me_cancels_restores_and_ends_every_session(app, rt, smtp_sink, make_account):
    account = await make_account()
    old = account.email
    gql, auth = await signed_in(app, old)
    new = f"{unique('thief')}@example.ru"
    await gql(REQUEST_EMAIL, {"e": new, "c": PASSWORD}, headers=auth)
    token = CONFIRM_RE.search((await letters_to(rt, smtp_sink, new))[-1].text).group(1)
    cancel = CANCEL_RE.search((await letters_to(rt, smtp_sink, old))[-1].text).group(1)
    assert (await gql(CONFIRM_EMAIL, {"t": token}))["confirmEmail"]["__typename"] == "EmailConfirmed"

    # The owner reads the old address's letter after the thief confirmed: the old address comes back.
    anon = GQL(client_at(app))
    assert (await anon(CANCEL_EMAIL, {"t": cancel}))["cancelEmailChange"]["__typename"] == "EmailChangeCancelled"
    assert (await anon(CANCEL_EMAIL, {"t": cancel}))["cancelEmailChange"]["__typename"] == "InvalidToken"
    assert (await gql(ME, headers=auth))["me"] is None  # every session ended
    assert (await Account.get(id=account.id)).email == old


async def test_a_pending_change_is_cancelled_before_it_is_confirmed(app, rt, smtp_sink, make_account):
    account = await make_account()
    gql, auth = await signed_in(app, account.email)
    new = f"{unique('later')}@example.ru"
    await gql(REQUEST_EMAIL, {"e": new, "c": PASSWORD}, headers=auth)
    token = CONFIRM_RE.search((await letters_to(rt, smtp_sink, new))[-1].text).group(1)
    cancel = CANCEL_RE.search((await letters_to(rt, smtp_sink, account.email))[-1].text).group(1)
    await gql(CANCEL_EMAIL, {"t": cancel})
    assert (await gql(CONFIRM_EMAIL, {"t": token}))["confirmEmail"]["__typename"] == "InvalidToken"
    assert (await Account.get(id=account.id)).email == account.email


async def test_an_address_held_by_another_account_gets_the_same_answer(app, rt, smtp_sink, make_account):
    holder = await make_account()
    account = await make_account()
    gql, auth = await signed_in(app, account.email)
    free = await gql(REQUEST_EMAIL, {"e": f"{unique('free')}@example.ru", "c": PASSWORD}, headers=auth)
    taken = await gql(REQUEST_EMAIL, {"e": holder.email, "c": PASSWORD}, headers=auth)
    assert taken["requestEmailChange"]["__typename"] == free["requestEmailChange"]["__typename"]
    assert taken["requestEmailChange"]["message"] == free["requestEmailChange"]["message"]
    letters = await letters_to(rt, smtp_sink, holder.email)
    assert len(letters) == 1 and not CONFIRM_RE.search(letters[0].text)  # told, but no link to take it
    assert "попытался" in letters[0].text
    assert (await Account.get(id=holder.id)).email == holder.email


async def test_the_confirmation_link_expires_after_24_hours(app, rt, clock, smtp_sink, make_account):
    account = await make_account()
    gql, auth = await signed_in(app, account.email)
    new = f"{unique('slow')}@example.ru"
    await gql(REQUEST_EMAIL, {"e": new, "c": PASSWORD}, headers=auth)
    token = CONFIRM_RE.search((await letters_to(rt, smtp_sink, new))[-1].text).group(1)
    clock.advance(24 * 3600 + 1)
    assert (await gql(CONFIRM_EMAIL, {"t": token}))["confirmEmail"]["__typename"] == "InvalidToken"


@pytest.mark.parametrize("token", ["", "x", "a" * 500, "../../etc", "токен" * 10, "a\x00b" * 20])
async def test_odd_confirmation_tokens_are_one_answer(anon, token):
    data = await anon(CONFIRM_EMAIL, {"t": token})
    assert data["confirmEmail"]["__typename"] == "InvalidToken"


async def test_guessing_links_is_throttled_per_client(anon):
    answers = [(await anon(CONFIRM_EMAIL, {"t": "y" * 43}))["confirmEmail"]["__typename"] for _ in range(12)]
    assert answers[:10] == ["InvalidToken"] * 10 and answers[-1] == "TooManyAttempts"


