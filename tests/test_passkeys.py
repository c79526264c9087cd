"""Passkeys over GraphQL, as a mobile app uses them (issue 16), with a software authenticator.

The server's verification is the real one (py_webauthn); the authenticator (tests/webauthn_soft.py) signs
what a platform authenticator would. Origin, RP ID, challenge (single use, session-bound), user
verification and the sign count are each shown to matter.
"""

from __future__ import annotations

from typing import Any

from portal.models.security import Passkey
from tests.helpers import GQL, PUBLIC_URL, client_at, drain, sign_in
from tests.webauthn_soft import SoftAuthenticator

START_REG = "mutation { startPasskeyRegistration { __typename ... on PasskeyCeremonyStarted { challengeId optionsJson } } }"
ADD = """
mutation($id: String!, $r: String!, $n: String!) { addPasskey(challengeId: $id, responseJson: $r, name: $n) {
  __typename ... on PasskeyAdded { passkey { id name backedUp lastUsedAt } } ... on ValidationError { fields { code } } } }
"""
START_SIGN_IN = "mutation { startPasskeySignIn { challengeId optionsJson } }"
FINISH = """
mutation($id: String!, $r: String!) { finishPasskeySignIn(challengeId: $id, responseJson: $r) {
  __typename ... on LoginSuccess { session { accessToken account { email } } } } }
"""
REMOVE = "mutation($id: ID!) { removePasskey(id: $id) { __typename } }"
RENAME = "mutation($id: ID!, $n: String!) { renamePasskey(id: $id, name: $n) { __typename ... on PasskeyAdded { passkey { name } } } }"


async def register(app: Any, email: str, authenticator: SoftAuthenticator, name: str = "Pixel") -> tuple[GQL, dict[str, str], dict[str, Any]]:
    gql = GQL(client_at(app))
    auth = {"Authorization": f"Bearer {(await sign_in(gql, email))['accessToken']}"}
    started = (await gql(START_REG, headers=auth))["startPasskeyRegistration"]
    data = await gql(ADD, {"id": started["challengeId"], "r": authenticator.create(started["optionsJson"]), "n": name},
                     headers=auth)
    return gql, auth, data["addPasskey"]


async def passkey_sign_in(gql: GQL, authenticator: SoftAuthenticator, **kwargs: Any) -> dict[str, Any]:
    started = (await gql(START_SIGN_IN))["startPasskeySignIn"]
    response = authenticator.get(started["optionsJson"], **kwargs)
    return (await gql(FINISH, {"id": started["challengeId"], "r": response}))["finishPasskeySignIn"]


async def test_register_then_sign_in_with_the_passkey_alone(app, rt, smtp_sink, make_account):
    account = await make_account()
    key = SoftAuthenticator(PUBLIC_URL, synced=True)
    gql, auth, added = await register(app, account.email, key, "  Мой   телефон ")
    assert added["__typename"] == "PasskeyAdded"
    assert added["passkey"]["name"] == "Мой телефон" and added["passkey"]["backedUp"] is True
    me = (await gql("{ me { passkeys { name lastUsedAt } secondFactors } }", headers=auth))["me"]
    assert me["passkeys"] == [{"name": "Мой телефон", "lastUsedAt": None}] and me["secondFactors"] == ["PASSKEY"]
    await drain(rt)
    assert "Мой телефон" in (await smtp_sink.wait_for(account.email))[-1].text

    anon = GQL(client_at(app))
    done = await passkey_sign_in(anon, key)
    assert done["__typename"] == "LoginSuccess" and done["session"]["account"]["email"] == account.email
    row = await Passkey.get(account_id=account.id)
    assert row.sign_count == 1 and row.last_used_at is not None and row.backup_eligible and row.backed_up
    assert (await passkey_sign_in(anon, key))["__typename"] == "LoginSuccess"
    assert (await Passkey.get(account_id=account.id)).sign_count == 2


async def test_a_response_is_single_use(app, make_account):
    account = await make_account()
    key = SoftAuthenticator(PUBLIC_URL)
    await register(app, account.email, key)
    anon = GQL(client_at(app))
    started = (await anon(START_SIGN_IN))["startPasskeySignIn"]
    response = key.get(started["optionsJson"])
    first = await anon(FINISH, {"id": started["challengeId"], "r": response})
    again = await anon(FINISH, {"id": started["challengeId"], "r": response})
    assert first["finishPasskeySignIn"]["__typename"] == "LoginSuccess"
    assert again["finishPasskeySignIn"]["__typename"] == "InvalidCredentials"


async def test_another_origin_no_user_verification_or_an_old_count_are_refused(app, make_account):
    account = await make_account()
    key = SoftAuthenticator(PUBLIC_URL)
    await register(app, account.email, key)
    anon = GQL(client_at(app))
    assert (await passkey_sign_in(anon, key, origin="https://portal.evil.example"))["__typename"] == "InvalidCredentials"
    key.flags &= ~0x04  # the authenticator did not verify the user: not both factors
    assert (await passkey_sign_in(anon, key))["__typename"] == "InvalidCredentials"
    key.flags |= 0x04
    assert (await passkey_sign_in(anon, key, count_step=5))["__typename"] == "LoginSuccess"
    # A cloned authenticator replays an older counter.
    assert (await passkey_sign_in(anon, key, count_step=-2))["__typename"] == "InvalidCredentials"


async def test_registration_needs_user_verification_and_this_sessions_challenge(app, make_account):
    account = await make_account()
    _, _, refused = await register(app, account.email, SoftAuthenticator(PUBLIC_URL, user_verified=False))
    assert refused == {"__typename": "ValidationError", "fields": [{"code": "PASSKEY_REFUSED"}]}
    # A challenge started in one session does not complete in another.
    gql = GQL(client_at(app))
    mine = {"Authorization": f"Bearer {(await sign_in(gql, account.email))['accessToken']}"}
    theirs = {"Authorization": f"Bearer {(await sign_in(gql, account.email))['accessToken']}"}
    started = (await gql(START_REG, headers=mine))["startPasskeyRegistration"]
    key = SoftAuthenticator(PUBLIC_URL)
    data = await gql(ADD, {"id": started["challengeId"], "r": key.create(started["optionsJson"]), "n": "x"},
                     headers=theirs)
    assert data["addPasskey"]["__typename"] == "ValidationError"
    assert not await Passkey.filter(account_id=account.id).exists()


async def test_rename_and_remove_after_a_recent_proof(app, clock, make_account):
    account = await make_account()
    key = SoftAuthenticator(PUBLIC_URL)
    gql, auth, added = await register(app, account.email, key)
    passkey_id = added["passkey"]["id"]
    renamed = await gql(RENAME, {"id": passkey_id, "n": "Ноутбук"}, headers=auth)
    assert renamed["renamePasskey"]["passkey"]["name"] == "Ноутбук"
    assert (await gql(REMOVE, {"id": "not-a-uuid"}, headers=auth))["removePasskey"]["__typename"] == "ValidationError"
    clock.advance(601)
    assert (await gql(REMOVE, {"id": passkey_id}, headers=auth))["removePasskey"]["__typename"] == "ReauthenticationRequired"
    fresh = GQL(client_at(app))
    session = await passkey_sign_in(fresh, key)  # a passkey sign-in is a fresh proof
    token = {"Authorization": f"Bearer {session['session']['accessToken']}"}
    assert (await fresh(REMOVE, {"id": passkey_id}, headers=token))["removePasskey"]["__typename"] == "PasskeyRemoved"
    assert (await passkey_sign_in(fresh, key))["__typename"] == "InvalidCredentials"


async def test_odd_responses_are_typed_answers(app):
    anon = GQL(client_at(app))
    started = (await anon(START_SIGN_IN))["startPasskeySignIn"]
    for response in ["", "{", "[]", '{"id": 5}', '{"id": "x", "response": "y"}', "x" * 40000]:
        data = await anon(FINISH, {"id": started["challengeId"], "r": response})
        assert data["finishPasskeySignIn"]["__typename"] == "InvalidCredentials"


async def test_the_code_step_offers_only_what_it_takes(app, clock, make_account):
    """With TOTP and a passkey, a password sign-in asks for a code (a passkey signs in on its own instead)."""
    from tests.helpers import enrol, password_step

    account = await make_account()
    gql, auth, _, _ = await enrol(app, clock, account.email)
    key = SoftAuthenticator(PUBLIC_URL)
    started = (await gql(START_REG, headers=auth))["startPasskeyRegistration"]
    await gql(ADD, {"id": started["challengeId"], "r": key.create(started["optionsJson"]), "n": "k"}, headers=auth)
    me = await gql("{ me { secondFactors } }", headers=auth)
    assert me["me"]["secondFactors"] == ["TOTP", "RECOVERY_CODE", "PASSKEY"]
    step = await password_step(GQL(client_at(app)), account.email)
    assert step["methods"] == ["TOTP", "RECOVERY_CODE"]
    assert (await passkey_sign_in(GQL(client_at(app)), key))["__typename"] == "LoginSuccess"
