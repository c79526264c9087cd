"""TOTP and recovery codes (issue 16): enrolment, sign-in with a second factor, single use, drift, reset.

Codes are computed here from the secret the API hands out (pyotp, RFC 6238) at the test clock's time.
"""

from __future__ import annotations

from typing import Any

import pytest

from portal.models.security import RecoveryCode, TotpCredential
from tests.helpers import (
    CONFIRM_TOTP,
    GQL,
    NEW_PASSWORD,
    START_TOTP,
    VERIFY_OWNERSHIP,
    anonymous_ticket,
    auth,
    client_at,
    code_at,
    csrf_of,
    drain,
    enrol,
    page_sign_in,
    password_step,
    random_phone,
    request_reset,
    reset,
    settle,
    sign_in,
    staff_member,
    token_from,
)

VERIFY = """
mutation($ch: String!, $c: String!) { verifySecondFactor(challenge: $ch, code: $c) {
  __typename ... on LoginSuccess { session { accessToken account { email } } }
  ... on Error { message } ... on TooManyAttempts { retryAfterSeconds } } }
"""
REGENERATE = "mutation { regenerateRecoveryCodes { __typename ... on RecoveryCodesRegenerated { recoveryCodes } } }"
DISABLE = "mutation { disableTotp { __typename } }"
REAUTH = "mutation($c: String!) { reauthenticate(code: $c) { __typename } }"


async def second_step(anon: GQL, step: dict[str, Any], code: str) -> dict[str, Any]:
    """Answers the sign-in's second step (`step` is the password step's answer) with `code`."""
    return dict((await anon(VERIFY, {"ch": step["challenge"], "c": code}))["verifySecondFactor"])


async def at_second_step(app: Any, clock: Any, make_account: Any) -> tuple[GQL, dict[str, Any], str]:
    """A resident with TOTP on signs in from a fresh client: the client, its password step's answer, the secret."""
    account = await make_account()
    _, _, secret, _ = await enrol(app, clock, account.email)
    anon = GQL(client_at(app))
    return anon, await password_step(anon, account.email), secret


async def test_enrolment_then_sign_in_needs_the_code(app, rt, clock, smtp_sink, make_account):
    account = await make_account()
    gql, auth, secret, codes = await enrol(app, clock, account.email)
    assert len(codes) == 10 and len(set(codes)) == 10
    # The secret is sealed at rest and the recovery codes are only hashes.
    row = await TotpCredential.get(account_id=account.id)
    assert secret not in (row.secret_sealed or "") and row.pending_sealed is None
    hashes = [r.code_hash for r in await RecoveryCode.filter(account_id=account.id)]
    assert len(hashes) == 10 and not set(codes) & set(hashes)
    await drain(rt)
    letter = (await smtp_sink.wait_for(account.email))[-1]
    assert "двухэтапная проверка" in letter.text.lower() and secret not in letter.text
    me = await gql("{ me { secondFactors } }", headers=auth)
    assert me["me"]["secondFactors"] == ["TOTP", "RECOVERY_CODE"]

    anon = GQL(client_at(app))
    step = await password_step(anon, account.email)
    assert step["__typename"] == "SecondFactorRequired" and step["methods"] == ["TOTP", "RECOVERY_CODE"]
    wrong = await second_step(anon, step, "000000" if code_at(secret, clock) != "000000" else "111111")
    assert wrong["__typename"] == "InvalidCredentials"
    # The code used to confirm the enrolment was spent: the same code in the same window is refused.
    reused = await second_step(anon, step, code_at(secret, clock))
    assert reused["__typename"] == "InvalidCredentials"
    clock.advance(30)
    done = await second_step(anon, step, code_at(secret, clock))
    assert done["__typename"] == "LoginSuccess"
    assert done["session"]["account"]["email"] == account.email
    # The challenge is single use.
    clock.advance(30)
    again = await second_step(anon, step, code_at(secret, clock))
    assert again["__typename"] == "InvalidCredentials"


async def test_one_step_of_drift_either_way_and_no_more(app, clock, make_account):
    account = await make_account()
    _, _, secret, _ = await enrol(app, clock, account.email)
    anon = GQL(client_at(app))
    for offset, expected in ((2, "InvalidCredentials"), (-2, "InvalidCredentials"), (1, "LoginSuccess")):
        clock.advance(90)  # a fresh window, so nothing is refused for being spent
        settle(clock)
        step = await password_step(anon, account.email)
        data = await second_step(anon, step, code_at(secret, clock, offset))
        assert data["__typename"] == expected, offset
    clock.advance(90)
    settle(clock)
    step = await password_step(anon, account.email)
    data = await second_step(anon, step, code_at(secret, clock, -1))
    assert data["__typename"] == "LoginSuccess"


async def test_recovery_codes_are_single_use_and_regenerated(app, clock, make_account):
    account = await make_account()
    gql, auth, _, codes = await enrol(app, clock, account.email)
    anon = GQL(client_at(app))
    step = await password_step(anon, account.email)
    used = codes[3].upper().replace("-", " ")  # read from paper: case and separators do not matter
    assert (await second_step(anon, step, used))["__typename"] == "LoginSuccess"
    step = await password_step(anon, account.email)
    assert (await second_step(anon, step, codes[3]))["__typename"] == "InvalidCredentials"

    fresh = (await gql(REGENERATE, headers=auth))["regenerateRecoveryCodes"]["recoveryCodes"]
    assert len(fresh) == 10 and not set(fresh) & set(codes)
    assert (await second_step(anon, step, codes[4]))["__typename"] == "InvalidCredentials"
    assert (await second_step(anon, step, fresh[0]))["__typename"] == "LoginSuccess"


async def test_the_challenge_lives_five_minutes(app, clock, make_account):
    anon, step, secret = await at_second_step(app, clock, make_account)
    clock.advance(301)
    late = await second_step(anon, step, code_at(secret, clock))
    assert late["__typename"] == "InvalidCredentials"


async def test_wrong_codes_are_throttled_like_passwords(app, clock, make_account):
    anon, step, secret = await at_second_step(app, clock, make_account)
    wrong = str((int(code_at(secret, clock)) + 500000) % 1000000).zfill(6)
    answers = [(await second_step(anon, step, wrong))["__typename"] for _ in range(6)]
    assert answers[:4] == ["InvalidCredentials"] * 4 and "TooManyAttempts" in answers[4:]


async def test_a_password_reset_keeps_the_second_factor(app, rt, clock, smtp_sink, make_account):
    """docs/security.md #54: the reset works, and the next sign-in still asks for the code."""
    account = await make_account()
    _, _, secret, _ = await enrol(app, clock, account.email)
    anon = GQL(client_at(app))
    await request_reset(anon, account.email)
    await drain(rt)
    token = token_from((await smtp_sink.wait_for(account.email, 2))[-1])
    assert (await reset(anon, token, NEW_PASSWORD))["__typename"] == "PasswordResetSucceeded"
    step = await password_step(anon, account.email, NEW_PASSWORD)
    assert step["__typename"] == "SecondFactorRequired"
    clock.advance(30)
    done = await second_step(anon, step, code_at(secret, clock))
    assert done["__typename"] == "LoginSuccess"


async def test_turning_totp_off_needs_a_recent_proof(app, rt, clock, smtp_sink, make_account):
    account = await make_account()
    gql, auth, secret, _ = await enrol(app, clock, account.email)
    clock.advance(601)
    assert (await gql(DISABLE, headers=auth))["disableTotp"]["__typename"] == "ReauthenticationRequired"
    assert (await gql(START_TOTP, headers=auth))["startTotpEnrollment"]["__typename"] == "ReauthenticationRequired"
    assert (await gql(REAUTH, {"c": code_at(secret, clock)}, headers=auth))["reauthenticate"]["__typename"] == "Reauthenticated"
    assert (await gql(DISABLE, headers=auth))["disableTotp"]["__typename"] == "TotpDisabled"
    assert (await password_step(GQL(client_at(app)), account.email))["__typename"] == "LoginSuccess"
    await drain(rt)
    assert "отключена" in (await smtp_sink.wait_for(account.email, 2))[-1].text


async def test_a_wrong_first_code_leaves_totp_off(app, clock, make_account):
    account = await make_account()
    gql = GQL(client_at(app))
    auth = {"Authorization": f"Bearer {(await sign_in(gql, account.email))['accessToken']}"}
    assert (await gql(CONFIRM_TOTP, {"c": "123456"}, headers=auth))["confirmTotpEnrollment"]["fields"][0]["code"] == "NO_ENROLLMENT"
    secret = (await gql(START_TOTP, headers=auth))["startTotpEnrollment"]["secret"]
    wrong = str((int(code_at(secret, clock)) + 1) % 1000000).zfill(6)
    data = await gql(CONFIRM_TOTP, {"c": wrong}, headers=auth)
    assert data["confirmTotpEnrollment"]["fields"] == [{"field": "code", "code": "INVALID_CODE"}]
    assert (await password_step(GQL(client_at(app)), account.email))["__typename"] == "LoginSuccess"


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef" * 30, "١٢٣٤٥٦", "12 34 56\x00"])
async def test_odd_codes_are_typed_answers(app, clock, make_account, code):
    anon, step, _ = await at_second_step(app, clock, make_account)
    data = await second_step(anon, step, code)
    assert data["__typename"] in ("InvalidCredentials", "ValidationError")


PROPOSE = """mutation($n: String!) { proposeSecondFactorRemoval(number: $n) { __typename
  ... on RecoveryUpdated { recovery { id kind status } } ... on ActionRefused { code } } }"""
APPROVE_REMOVAL = """mutation($r: ID!) { approveSecondFactorRemoval(recoveryId: $r) { __typename
  ... on RecoveryUpdated { recovery { status decidedById } } ... on ActionRefused { code } } }"""


async def test_a_lost_second_factor_is_removed_by_two_staff_on_a_verified_ticket(gql, app, rt, clock, smtp_sink,
                                                                                 make_account):
    """docs/security.md #54: the other way a second factor goes: staff propose on a verified ticket, another ADMIN approves."""
    from portal.models.accounts import Role

    owner = await make_account(phone=random_phone())
    _, _, secret, _ = await enrol(app, clock, owner.email)
    number, _ = await anonymous_ticket(app, accountIdentifier=owner.phone, phone=owner.phone)
    proposer, proposer_session = await staff_member(gql, make_account, Role.ADMIN)
    approver, approver_session = await staff_member(gql, make_account, Role.ADMIN)
    early = await gql(PROPOSE, {"n": number}, **auth(proposer_session))
    assert early["proposeSecondFactorRemoval"] == {"__typename": "ActionRefused", "code": "NOT_VERIFIED"}
    await gql(VERIFY_OWNERSHIP, {"n": number, "a": owner.email, "o": "VERIFIED", "e": ["FULL_NAME", "PHONE_ON_FILE"]},
              **auth(proposer_session))
    proposed = (await gql(PROPOSE, {"n": number}, **auth(proposer_session)))["proposeSecondFactorRemoval"]
    assert proposed["recovery"]["kind"] == "SECOND_FACTOR" and proposed["recovery"]["status"] == "AWAITING_APPROVAL"
    recovery_id = proposed["recovery"]["id"]
    assert (await password_step(GQL(client_at(app)), owner.email))["__typename"] == "SecondFactorRequired"

    same = await gql(APPROVE_REMOVAL, {"r": recovery_id}, **auth(proposer_session))
    assert same["approveSecondFactorRemoval"] == {"__typename": "ActionRefused", "code": "SAME_APPROVER"}
    wrong_kind = await gql(
        "mutation($r: ID!) { approveRecoveryEmailChange(recoveryId: $r) { __typename } }", {"r": recovery_id},
        **auth(approver_session),
    )
    assert wrong_kind["approveRecoveryEmailChange"]["__typename"] == "NotFound"
    approved = await gql(APPROVE_REMOVAL, {"r": recovery_id}, **auth(approver_session))
    assert approved["approveSecondFactorRemoval"]["recovery"] == {"status": "COMPLETED", "decidedById": str(approver.id)}
    assert (await password_step(GQL(client_at(app)), owner.email))["__typename"] == "LoginSuccess"
    await drain(rt)
    subjects = [letter.subject for letter in smtp_sink.to(owner.email)]
    assert "Предложено отключить двухэтапную проверку" in subjects
    assert "Двухэтапная проверка отключена по заявке" in subjects


@pytest.mark.parametrize("document", [
    'mutation { a: verifySecondFactor(challenge: "c", code: "111111") { __typename } '
    'b: verifySecondFactor(challenge: "c", code: "222222") { __typename } }',
    'mutation { reauthenticate(password: "x") { __typename } changePassword(currentPassword: "y", '
    'newPassword: "z", newPasswordConfirmation: "z") { __typename } }',
    'mutation { a: confirmEmail(token: "t1") { __typename } b: confirmEmail(token: "t2") { __typename } }',
])
async def test_aliases_cannot_multiply_code_or_password_guesses(app, document):
    response = await GQL(client_at(app)).raw(document)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "ONE_SENSITIVE_FIELD_PER_REQUEST"


async def test_the_approvals_page_lists_a_second_factor_removal_and_decides_it(gql, app, clock, make_account):
    """/desk/approvals lists e-mail changes *and* second-factor removals: the second ADMIN approves in a page."""
    from portal.models.accounts import Role

    owner = await make_account(phone=random_phone())
    await enrol(app, clock, owner.email)
    number, _ = await anonymous_ticket(app, accountIdentifier=owner.phone, phone=owner.phone)
    _, proposer_session = await staff_member(gql, make_account, Role.ADMIN)
    approver, _ = await staff_member(gql, make_account, Role.ADMIN)
    await gql(VERIFY_OWNERSHIP, {"n": number, "a": owner.email, "o": "VERIFIED", "e": ["FULL_NAME", "PHONE_ON_FILE"]},
              **auth(proposer_session))
    recovery_id = (await gql(PROPOSE, {"n": number}, **auth(proposer_session)))["proposeSecondFactorRemoval"][
        "recovery"]["id"]

    async with client_at(app) as browser:
        assert (await page_sign_in(browser, approver.email, next="/desk/approvals")).status_code == 303
        page = await browser.get("/desk/approvals")
        assert page.status_code == 200 and f'data-request="{recovery_id}"' in page.text
        assert "Отключить второй фактор" in page.text
        decided = await browser.post(f"/desk/approvals/{recovery_id}/approve",
                                     data={"csrf": await csrf_of(browser, "/desk/approvals")})
        assert decided.status_code == 303 and decided.headers["location"] == "/desk/approvals?notice=approved"
    assert (await password_step(GQL(client_at(app)), owner.email))["__typename"] == "LoginSuccess"
