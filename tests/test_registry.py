"""Residents join: the registry import through `portal residents`, codes on the bill, invitations, activation.

Real database (SQLite or PostgreSQL), real `portal` subprocesses, real SMTP sink; the clock is moved, never slept.
"""

from __future__ import annotations

import csv
import random
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from portal.core.client import ClientInfo
from portal.core.runtime import Runtime
from portal.identity import signin
from portal.identity.activation import CODE_ALPHABET, WRONG_PER_CLIENT, WRONG_PER_NUMBER
from portal.identity.sessions import IssuedSession
from portal.models.accounts import Account
from portal.models.audit import AuditEvent
from portal.models.mail import OutboxMessage
from portal.models.residents import PersonalAccount, ResidentToken
from tests.helpers import (
    GQL,
    PUBLIC_URL,
    REGISTRY_PASSWORD,
    REQUEST,
    RESET,
    RU_HEADER,
    client_at,
    codes_for,
    drain,
    hidden,
    new_address,
    portal,
    random_phone,
    resident_rows,
    token_from,
    unique,
)

ACTIVATE = """
mutation($input: ActivateAccountInput!) { activateAccount(input: $input) { __typename
  ... on AccountActivated { account { id email emailVerified fullName personalAccounts { number address } }
                            session { accessToken } }
  ... on Error { message } ... on TooManyAttempts { retryAfterSeconds }
  ... on ValidationError { fields { field code } } } }
"""
CONFIRM = """mutation($t: String!) { confirmEmail(token: $t) { __typename
  ... on EmailConfirmed { account { email emailVerified } } ... on Error { message } } }"""
ME = "{ me { id email personalAccounts { number address } } }"
CONFIRM_LINK = re.compile(re.escape(PUBLIC_URL) + r"/confirm-email\?token=([A-Za-z0-9_-]+)")
INVITE_LINK = re.compile(re.escape(PUBLIC_URL) + r"/activate\?token=([A-Za-z0-9_-]+)")


EN_HEADER = ["personal_account", "full_name", "address", "email", "phone", "area", "share"]


def write_csv(path: Path, header: list[str], rows: list[list[str]], *, encoding: str, delimiter: str) -> Path:
    with path.open("w", encoding=encoding, newline="") as out:
        writer = csv.writer(out, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_xlsx(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def summary(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout.strip().splitlines()[-1]


def activation(number: str, code: str, email: str, **more: Any) -> dict[str, Any]:
    return {"input": {"personalAccount": number, "activationCode": code, "email": email, "password": REGISTRY_PASSWORD,
                      "passwordConfirmation": REGISTRY_PASSWORD, "personalDataConsent": True, **more}}


async def test_import_reads_every_encoding_delimiter_and_xlsx(settings, database, tmp_path):
    files = []
    for name, header, encoding, delimiter in (
        ("utf8.csv", EN_HEADER, "utf-8", ","),
        ("utf8-bom.csv", RU_HEADER, "utf-8-sig", ";"),
        ("cp1251.csv", RU_HEADER, "cp1251", ";"),
        ("cp1251-comma.csv", [h.replace("ё", "е") for h in RU_HEADER], "cp1251", ","),
    ):
        rows = resident_rows(3)
        files.append((write_csv(tmp_path / name, header, rows, encoding=encoding, delimiter=delimiter), rows))
    rows = resident_rows(3)
    numeric = [[int(r[0][-4:]) + random.randint(10**9, 9 * 10**9), *r[1:5], 54.3, "1/2"] for r in rows]
    files.append((write_xlsx(tmp_path / "registry.xlsx", RU_HEADER, numeric), [[str(r[0]), *r[1:]] for r in numeric]))

    for path, rows in files:
        result = portal(settings, "residents", "import", str(path))
        assert result.returncode == 0, (path.name, result.stdout, result.stderr)
        assert summary(result) == "created=3 updated=0 unchanged=0 skipped=0", (path.name, result.stdout)
        stored = await PersonalAccount.get(number=rows[1][0])
        assert (stored.full_name, stored.address, stored.email) == (rows[1][1], rows[1][2], rows[1][3]), path.name
        assert (stored.phone, stored.area, stored.share) == (rows[1][4], "54.3", "1/2"), path.name
        assert stored.claimed_at is None


async def test_bad_rows_stop_the_file_unless_skipped(settings, database, tmp_path, make_account):
    someone = await make_account(full_name="Пётр Сидоров")
    rows = resident_rows(5)
    rows[1][4] = "+7 12"  # row 3: an invalid phone
    rows[3] = [rows[0][0], rows[0][1], "другой адрес", rows[0][3], rows[0][4], "54,3", "1/2"]  # row 5: same number
    rows[4][3] = someone.email  # row 6: an e-mail held by another person
    path = write_csv(tmp_path / "bad.csv", RU_HEADER, rows, encoding="utf-8-sig", delimiter=";")

    refused = portal(settings, "residents", "import", str(path), "--lang", "en")
    assert refused.returncode == 2, refused.stdout
    lines = refused.stdout.strip().splitlines()
    assert lines[0].startswith("row 3: invalid phone"), lines
    assert lines[1] == f"row 5: personal account {rows[0][0]} already in row 2 with other data", lines
    assert lines[2] == f"row 6: e-mail {someone.email} is held by another person", lines
    assert summary(refused).endswith("skipped=3")
    assert not await PersonalAccount.filter(number__in=[r[0] for r in rows]).exists()  # nothing applied

    russian = portal(settings, "residents", "import", str(path))
    assert russian.stdout.startswith("row 3: неверный телефон"), russian.stdout

    skipped = portal(settings, "residents", "import", str(path), "--skip-bad-rows")
    assert skipped.returncode == 0, skipped.stderr
    assert summary(skipped) == "created=2 updated=0 unchanged=0 skipped=3"
    assert await PersonalAccount.filter(number__in=[rows[0][0], rows[2][0]]).count() == 2


async def test_reimport_changes_nothing_and_a_changed_row_says_so(settings, database, tmp_path):
    rows = resident_rows(4)
    path = write_csv(tmp_path / "r.csv", EN_HEADER, rows, encoding="utf-8", delimiter=";")

    dry = portal(settings, "residents", "import", str(path), "--dry-run")
    assert dry.returncode == 0 and summary(dry) == "created=4 updated=0 unchanged=0 skipped=0", dry.stdout
    assert not await PersonalAccount.filter(number=rows[0][0]).exists()  # a dry run writes nothing

    assert summary(portal(settings, "residents", "import", str(path))) == "created=4 updated=0 unchanged=0 skipped=0"
    again = portal(settings, "residents", "import", str(path))
    assert summary(again) == "created=0 updated=0 unchanged=4 skipped=0", again.stdout

    rows[2][2] = "г. Екатеринбург, ул. Мира, д. 1, кв. 7"
    rows[2][6] = ""  # an empty cell leaves the stored share alone
    write_csv(path, EN_HEADER, rows, encoding="utf-8", delimiter=";")
    changed = portal(settings, "residents", "import", str(path), "--lang", "en")
    assert summary(changed) == "created=0 updated=1 unchanged=3 skipped=0", changed.stdout
    assert f"row 4: personal account {rows[2][0]} updated (address)" in changed.stdout
    stored = await PersonalAccount.get(number=rows[2][0])
    assert (stored.address, stored.share) == (rows[2][2], "1/2")


async def test_a_missing_column_is_a_clear_error(settings, database, tmp_path):
    path = write_csv(tmp_path / "x.csv", ["ФИО", "телефон"], [["Иван", random_phone()]], encoding="utf-8", delimiter=";")
    result = portal(settings, "residents", "import", str(path), "--lang", "en")
    assert result.returncode == 2 and "lacks the columns: лицевой счёт, адрес" in result.stderr, result.stderr


async def test_activation_by_code_confirms_the_email_and_the_resident_resets_a_forgotten_password(
    settings, database, tmp_path, app, rt, smtp_sink, clock
):
    rows = resident_rows(2)
    assert portal(settings, "residents", "import", str(write_csv(
        tmp_path / "r.csv", RU_HEADER, rows, encoding="cp1251", delimiter=";"))).returncode == 0
    first = await codes_for(settings, tmp_path)
    codes = await codes_for(settings, tmp_path)  # a new export voids the older codes
    number, code = rows[0][0], codes[rows[0][0]]
    assert re.fullmatch(rf"[{CODE_ALPHABET}]{{5}}-[{CODE_ALPHABET}]{{5}}", code), code
    assert not await ResidentToken.filter(token_hash__contains=code.replace("-", "")).exists()  # only a hash is kept
    email = unique("joined") + "@example.ru"
    async with client_at(app) as c:
        gql = GQL(c)
        old = await gql(ACTIVATE, activation(number, first[number], email))
        assert old["activateAccount"]["__typename"] == "InvalidActivationCode"

        # The code as typed from the bill: lower case, no dash, a Cyrillic look-alike letter.
        typed = code.replace("-", " ").lower().replace("a", "а")
        done = (await gql(ACTIVATE, activation(number.lower(), typed, email)))["activateAccount"]
        assert done["__typename"] == "AccountActivated", done
        assert done["account"]["personalAccounts"] == [{"number": number, "address": rows[0][2]}]
        assert done["account"]["email"] is None and done["account"]["fullName"] == rows[0][1]
        bearer = {"Authorization": f"Bearer {done['session']['accessToken']}"}
        assert (await gql(ME, **{"headers": bearer}))["me"]["personalAccounts"][0]["number"] == number

        # Single use: the same code again is the one answer, as is a wrong number.
        again = (await gql(ACTIVATE, activation(number, code, unique("x") + "@example.ru")))["activateAccount"]
        unknown = (await gql(ACTIVATE, activation("000" + number, code, unique("x") + "@example.ru")))["activateAccount"]
        assert again == unknown == {"__typename": "InvalidActivationCode", "message": again["message"]}

        # Until the link is used the address resets nothing: no letter goes to it.
        await gql(REQUEST, {"identifier": email})
        await drain(rt)
        letters = await smtp_sink.wait_for(email)
        assert len(letters) == 1 and "/confirm-email?token=" in letters[0].text
        token = CONFIRM_LINK.findall(letters[0].text)[0]
        confirmed = (await gql(CONFIRM, {"t": token}))["confirmEmail"]
        assert confirmed == {"__typename": "EmailConfirmed", "account": {"email": email, "emailVerified": True}}
        assert (await gql(CONFIRM, {"t": token}))["confirmEmail"]["__typename"] == "InvalidToken"  # single use

        # The forgotten-password journey of the seed now works for the activated resident.
        assert (await gql(REQUEST, {"identifier": email}))["requestPasswordReset"]["__typename"] == "PasswordResetRequested"
        await drain(rt)
        reset_letter = (await smtp_sink.wait_for(email, count=2))[-1]
        changed = await gql(RESET, {"token": token_from(reset_letter), "p": "новый пароль для кабинета", "c": "новый пароль для кабинета"})
        assert changed["resetPassword"]["__typename"] == "PasswordResetSucceeded"
    outcome = await signin.login(rt, email, "новый пароль для кабинета", ClientInfo(new_address()))
    assert isinstance(outcome, IssuedSession)
    assert await AuditEvent.filter(action="activation.success", subject_id=outcome.account.id).exists()

    # The other flat's code expires: move the clock past its last day.
    clock.advance(91 * 24 * 3600)
    async with client_at(app) as c:
        late = await GQL(c)(ACTIVATE, activation(rows[1][0], codes[rows[1][0]], unique("late") + "@example.ru"))
    assert late["activateAccount"]["__typename"] == "InvalidActivationCode"


async def test_code_guessing_is_throttled_per_number_and_per_client(settings, database, tmp_path, app):
    rows = resident_rows(1)
    assert portal(settings, "residents", "import", str(write_csv(
        tmp_path / "r.csv", EN_HEADER, rows, encoding="utf-8", delimiter=","))).returncode == 0
    number, code = rows[0][0], (await codes_for(settings, tmp_path))[rows[0][0]]
    wrong = "".join(random.choice(CODE_ALPHABET) for _ in range(10))
    before = await AuditEvent.filter(action="activation.failure").count()
    answers = []
    for _ in range(WRONG_PER_NUMBER.count):  # each guess from another address: the per-number limit holds
        async with client_at(app) as c:
            answers.append((await GQL(c)(ACTIVATE, activation(number, wrong, "g@example.ru")))["activateAccount"])
    assert {a["__typename"] for a in answers} == {"InvalidActivationCode"}
    async with client_at(app) as c:
        blocked = (await GQL(c)(ACTIVATE, activation(number, code, "g@example.ru")))["activateAccount"]
    assert blocked["__typename"] == "TooManyAttempts" and blocked["retryAfterSeconds"] > 3600, blocked
    assert await AuditEvent.filter(action="activation.failure").count() - before == WRONG_PER_NUMBER.count

    async with client_at(app) as c:  # one client trying many numbers
        gql = GQL(c)
        for i in range(WRONG_PER_CLIENT.count):
            answer = (await gql(ACTIVATE, activation(f"{unique('')[-8:]}{i}", wrong, "g@example.ru")))
            assert answer["activateAccount"]["__typename"] == "InvalidActivationCode"
        last = (await gql(ACTIVATE, activation(unique("")[-9:], wrong, "g@example.ru")))["activateAccount"]
        assert last["__typename"] == "TooManyAttempts"


async def test_invitations_are_spaced_single_use_and_reinviting_voids_the_older_link(
    settings, database, tmp_path, app, rt, smtp_sink, clock
):
    rows = resident_rows(3)
    imported = portal(settings, "residents", "import", str(write_csv(
        tmp_path / "r.csv", EN_HEADER, rows, encoding="utf-8", delimiter=";")), "--invite", "--lang", "en")
    assert imported.returncode == 0 and summary(imported) == "created=3 updated=0 unchanged=0 skipped=0", imported.stdout
    emails = [r[3] for r in rows]
    turns = await OutboxMessage.filter(to_address__in=emails).order_by("next_attempt_at").values_list(
        "next_attempt_at", flat=True)
    gaps = {round((b - a).total_seconds(), 3) for a, b in zip(turns, turns[1:], strict=False)}
    assert gaps == {60 / settings.invitation_letters_per_minute}, gaps  # a trickle, not a flood

    clock.advance(60)
    await drain(rt)
    first = (await smtp_sink.wait_for(emails[0]))[0]
    assert first.subject == "Your invitation to the residents' account" and rows[0][0] in first.text
    old_token = INVITE_LINK.findall(first.text)[0]
    assert portal(settings, "residents", "invite", "--pending").returncode == 0  # re-invite: the older link dies
    clock.advance(120)
    await drain(rt)
    new_token = INVITE_LINK.findall((await smtp_sink.wait_for(emails[0], count=2))[-1].text)[0]

    invitation = {"password": REGISTRY_PASSWORD, "passwordConfirmation": REGISTRY_PASSWORD, "personalDataConsent": True}
    async with client_at(app) as c:
        gql = GQL(c)
        stale = await gql(ACTIVATE, {"input": {**invitation, "invitationToken": old_token}})
        assert stale["activateAccount"]["__typename"] == "InvalidActivationCode"
        joined = (await gql(ACTIVATE, {"input": {**invitation, "invitationToken": new_token}}))["activateAccount"]
        assert joined["__typename"] == "AccountActivated", joined
        assert (joined["account"]["email"], joined["account"]["emailVerified"]) == (emails[0], True)
        reused = await gql(ACTIVATE, {"input": {**invitation, "invitationToken": new_token}})
        assert reused["activateAccount"]["__typename"] == "InvalidActivationCode"
    # Invitation links last 7 days.
    clock.advance(8 * 24 * 3600)
    late_token = INVITE_LINK.findall((await smtp_sink.wait_for(emails[1], count=2))[-1].text)[0]
    async with client_at(app) as c:
        late = await GQL(c)(ACTIVATE, {"input": {**invitation, "invitationToken": late_token}})
    assert late["activateAccount"]["__typename"] == "InvalidActivationCode"
    # A claimed flat is not invited again.
    assert not await ResidentToken.filter(personal_account__number=rows[0][0], used_at__isnull=True,
                                          voided_at__isnull=True).exists()


async def test_sign_in_by_personal_account_number_when_the_organisation_turns_it_on(
    settings, database, tmp_path, app, rt, clock
):
    rows = resident_rows(1)
    rows[0][0] = str(random.randint(10**6, 10**7 - 1))  # seven digits: a number, never a phone
    assert portal(settings, "residents", "import", str(write_csv(
        tmp_path / "r.csv", EN_HEADER, rows, encoding="utf-8", delimiter=";"))).returncode == 0
    code = (await codes_for(settings, tmp_path))[rows[0][0]]
    async with client_at(app) as c:
        done = await GQL(c)(ACTIVATE, activation(rows[0][0], code, unique("n") + "@example.ru"))
    assert done["activateAccount"]["__typename"] == "AccountActivated"

    on = Runtime(settings.model_copy(update={"signin_by_personal_account": True}), clock)
    client = ClientInfo(new_address())
    assert isinstance(await signin.login(on, rows[0][0], REGISTRY_PASSWORD, client), IssuedSession)
    assert isinstance(await signin.login(on, f"ЛС № {rows[0][0]}", REGISTRY_PASSWORD, client), IssuedSession)
    wrong = await signin.login(on, rows[0][0], "not the password at all", client)
    unknown = await signin.login(on, "1234", REGISTRY_PASSWORD, client)
    assert type(wrong) is type(unknown) is signin.BadCredentials
    # Off (the default), the same number signs nobody in.
    assert isinstance(await signin.login(rt, rows[0][0], REGISTRY_PASSWORD, client), signin.BadCredentials)


@pytest.mark.parametrize("field", ["personalAccount", "activationCode", "invitationToken", "email"])
async def test_hostile_activation_input_is_a_typed_answer(app, field):
    async with client_at(app) as c:
        variables = activation("1234567", "ABCDE-23456", "a@example.ru")
        variables["input"][field] = "\x00" + "я" * 5000
        answer = (await GQL(c)(ACTIVATE, variables))["activateAccount"]["__typename"]
    assert answer in ("ValidationError", "InvalidActivationCode")


async def test_the_invitation_link_opens_the_page_and_a_bad_link_gets_the_one_answer(app):

    async with client_at(app) as c:
        token = "x" * 43
        page = await c.get(f"/activate?token={token}", follow_redirects=True)
        assert page.status_code == 200 and page.headers["referrer-policy"] == "no-referrer"
        assert str(page.url) == f"{PUBLIC_URL}/activate"  # the token left the address bar at once
        assert hidden(page.text, "invitationToken") == token  # opening the link spends and checks nothing
        assert 'name="personalAccount"' not in page.text  # the link replaces number, code and e-mail
        posted = await c.post("/activate", data={
            "csrf": hidden(page.text, "csrf"), "invitationToken": token, "password": REGISTRY_PASSWORD,
            "passwordConfirmation": REGISTRY_PASSWORD, "personalDataConsent": "yes",
        }, headers={"Accept-Language": "en"})
        assert posted.status_code == 400
        assert "Wrong personal account number or code, or the code was used or has expired." in posted.text
        confirm = await c.get("/confirm-email?token=" + token, follow_redirects=True)
        assert str(confirm.url) == f"{PUBLIC_URL}/confirm-email"
        assert confirm.status_code == 200 and confirm.headers["referrer-policy"] == "no-referrer"
        spent = await c.post("/confirm-email", data={"csrf": hidden(confirm.text, "csrf"), "token": token})
        assert spent.status_code == 400


async def test_two_concurrent_activations_with_one_code_claim_it_once(settings, database, tmp_path, rt):
    import asyncio

    from portal.identity.activation import Activated, ActivationRequest, BadActivation, activate

    rows = resident_rows(1)
    assert portal(settings, "residents", "import", str(write_csv(
        tmp_path / "r.csv", EN_HEADER, rows, encoding="utf-8", delimiter=";"))).returncode == 0
    number, code = rows[0][0], (await codes_for(settings, tmp_path))[rows[0][0]]

    def request() -> ActivationRequest:
        return ActivationRequest(number, code, None, unique("race") + "@example.ru", REGISTRY_PASSWORD, REGISTRY_PASSWORD, True)

    outcomes = await asyncio.gather(*(activate(rt, request(), ClientInfo(new_address())) for _ in range(5)))
    assert sorted(type(o).__name__ for o in outcomes) == ["Activated"] + ["BadActivation"] * 4, outcomes
    assert all(isinstance(o, Activated | BadActivation) for o in outcomes)
    assert await Account.filter(personal_accounts__number=number).count() == 1


async def test_a_signed_in_resident_joins_a_second_flat_with_its_own_password(settings, database, tmp_path, app):
    rows = resident_rows(2)
    assert portal(settings, "residents", "import", str(write_csv(
        tmp_path / "r.csv", EN_HEADER, rows, encoding="utf-8", delimiter=";"))).returncode == 0
    codes = await codes_for(settings, tmp_path)
    async with client_at(app) as c:
        gql = GQL(c)
        first = (await gql(ACTIVATE, activation(rows[0][0], codes[rows[0][0]], unique("two") + "@example.ru")))
        bearer = {"Authorization": f"Bearer {first['activateAccount']['session']['accessToken']}"}
        second = activation(rows[1][0], codes[rows[1][0]], "")
        wrong = {"input": {**second["input"], "password": "не мой пароль совсем", "passwordConfirmation": "не мой пароль совсем"}}
        refused = (await gql(ACTIVATE, wrong, headers=bearer))["activateAccount"]
        assert refused == {"__typename": "ValidationError", "fields": [{"field": "password", "code": "WRONG_PASSWORD"}],
                           "message": refused["message"]}
        joined = (await gql(ACTIVATE, second, headers=bearer))["activateAccount"]  # the code still works
    assert joined["__typename"] == "AccountActivated", joined
    assert joined["account"]["id"] == first["activateAccount"]["account"]["id"]
    assert sorted(p["number"] for p in joined["account"]["personalAccounts"]) == sorted([rows[0][0], rows[1][0]])
