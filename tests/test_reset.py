"""Password reset by a mailed single-use link: the journey, one answer for everyone, the token's whole life."""

from __future__ import annotations

import asyncio

import pytest

from portal.core.client import ClientInfo
from portal.identity.reset import (
    RESET_LETTERS_PER_ACCOUNT,
    WRONG_TOKENS_PER_CLIENT,
    PasswordReset,
    reset_password,
    void_reset_tokens,
)
from portal.models.accounts import Account, AccountStatus
from portal.models.audit import AuditEvent
from portal.models.federation import FederatedIdentity
from portal.models.mail import OutboxMessage, OutboxStatus
from portal.models.reset import PasswordResetToken
from tests.helpers import (
    GQL,
    LOGIN,
    PASSWORD,
    PUBLIC_URL,
    client_at,
    drain,
    new_address,
    request_reset,
    reset,
    token_from,
    unique,
)

NEW_PASSWORD = "a brand new passphrase for the flat"
ME = "{ me { id } }"
REFRESH = """mutation($t: String!) { refreshSession(refreshToken: $t) { __typename } }"""


@pytest.fixture
async def gqlx(app):  # type: ignore[no-untyped-def]
    """GraphQL from a client address of this test's own (per-client throttles stay per test)."""
    async with client_at(app) as c:
        yield GQL(c)


async def login(gql: GQL, identifier: str, password: str) -> dict:
    return (await gql(LOGIN, {"identifier": identifier, "password": password}))["login"]


async def reset_letter(rt, smtp_sink, email: str, count: int = 1):  # type: ignore[no-untyped-def]
    await drain(rt)
    letters = await smtp_sink.wait_for(email, count)
    return letters[-1]


async def test_the_whole_journey(rt, app, gqlx, make_account, smtp_sink):
    account = await make_account()
    answer = await request_reset(gqlx, account.email.upper())
    assert answer["__typename"] == "PasswordResetRequested"
    assert "Спам" in answer["message"] and "поддержку" in answer["message"]
    assert not smtp_sink.to(account.email)  # the request path never talks to the mail server

    letter = await reset_letter(rt, smtp_sink, account.email)
    token = token_from(letter)
    assert len(token) >= 43
    assert f"{PUBLIC_URL}/reset-password?token={token}" in letter.html
    assert letter.message["Auto-Submitted"] == "auto-generated"

    # Nothing changes until the token is used; opening the link (three times) spends nothing.
    assert (await login(gqlx, account.email, PASSWORD))["__typename"] == "LoginSuccess"
    for _ in range(3):
        page = await gqlx.client.get(f"/reset-password?token={token}", follow_redirects=True)
        assert page.status_code == 200 and str(page.url).endswith("/reset-password")  # the token left the URL
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "<form" in page.text and token not in page.text and 'autocomplete="new-password"' in page.text

    done = await reset(gqlx, token, NEW_PASSWORD)
    assert done == {"__typename": "PasswordResetSucceeded", "message": done["message"]}
    assert "session" not in done  # no automatic sign-in
    assert (await login(gqlx, account.email, NEW_PASSWORD))["__typename"] == "LoginSuccess"
    assert (await login(gqlx, account.email, PASSWORD))["__typename"] == "InvalidCredentials"

    # The owner is told, without any secret in the letter.
    await drain(rt)
    changed = (await smtp_sink.wait_for(account.email, 2))[-1]
    assert "изменён" in changed.subject
    assert token not in changed.raw.decode("ascii", "replace")
    assert "token=" not in changed.text
    assert "/forgot-password" in changed.text and "/support" in changed.text
    assert "10." in changed.text  # the approximate client


async def test_every_kind_of_account_gets_the_same_answer(rt, app, make_account, smtp_sink):
    local = await make_account()
    disabled = await make_account()
    await Account.filter(id=disabled.id).update(status=AccountStatus.DISABLED)
    federated = await make_account(password=None)
    for provider in ("esia", "yandex-id"):  # not configured here: the letter names them by id
        await FederatedIdentity.create(account=federated, provider=provider, issuer=f"https://{provider}.example",
                                       subject=unique("sub"), linked_at=rt.clock.now())
    phone_tail = str(abs(hash(unique())) % 10_000_000).zfill(7)
    phone_only = await make_account(email=None, phone=f"+7913{phone_tail}")
    login_only = await make_account(email=None, login=unique("login"))
    identifiers = [
        local.email,
        f"{unique('nobody')}@example.ru",
        unique("nologin"),
        "+7 999 000-00-00",
        disabled.email,
        federated.email,
        f"8 913 {phone_tail}",
        login_only.login,
        "not an identifier at all!",
    ]
    answers = []
    for identifier in identifiers:
        async with client_at(app) as c:
            response = await c.post("/graphql", json={"query": REQUEST_Q, "variables": {"identifier": identifier}})
        assert response.status_code == 200
        answers.append(response.json())
    for i, a in enumerate(answers):
        assert a == answers[0], (identifiers[i], a)
    assert answers[0]["data"]["requestPasswordReset"]["__typename"] == "PasswordResetRequested"

    await drain(rt)
    assert token_from((await smtp_sink.wait_for(local.email))[0])
    federated_letters = await smtp_sink.wait_for(federated.email)
    assert len(federated_letters) == 1
    assert "нет пароля" in federated_letters[0].text and "token=" not in federated_letters[0].text
    assert "esia" in federated_letters[0].text and "yandex-id" in federated_letters[0].text
    for silent in (disabled.email,):
        assert smtp_sink.to(silent) == []
    # Every request wrote the same rows: a token (real or a born-void decoy), an outbox row, an audit event.
    events = await AuditEvent.filter(action="password.reset_requested", subject_id__in=[
        local.id, disabled.id, federated.id, phone_only.id, login_only.id]).count()
    assert events == 5
    assert await PasswordResetToken.filter(account_id=local.id).count() == 1
    assert await PasswordResetToken.filter(account_id__in=[disabled.id, federated.id, phone_only.id]).count() == 0


REQUEST_Q = "mutation($identifier: String!) { requestPasswordReset(identifier: $identifier) { __typename ... on PasswordResetRequested { message } } }"  # noqa: E501


async def test_the_link_comes_from_the_public_url_never_from_host(rt, app, make_account, smtp_sink):
    account = await make_account()
    async with client_at(app) as c:
        await c.post(
            "/graphql",
            json={"query": REQUEST_Q, "variables": {"identifier": account.email}},
            headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
        )
    letter = await reset_letter(rt, smtp_sink, account.email)
    assert "evil.example" not in letter.raw.decode("ascii", "replace")
    assert token_from(letter)


async def test_a_token_works_once(rt, gqlx, make_account, smtp_sink):
    account = await make_account()
    await request_reset(gqlx, account.email)
    token = token_from(await reset_letter(rt, smtp_sink, account.email))
    assert (await reset(gqlx, token, NEW_PASSWORD))["__typename"] == "PasswordResetSucceeded"
    again = await reset(gqlx, token, "yet another passphrase here")
    assert again["__typename"] == "InvalidToken"
    assert (await login(gqlx, account.email, NEW_PASSWORD))["__typename"] == "LoginSuccess"


async def test_a_token_expires_and_an_expired_letter_is_not_sent_late(rt, gqlx, make_account, smtp_sink, clock):
    account = await make_account()
    await request_reset(gqlx, account.email)
    token = token_from(await reset_letter(rt, smtp_sink, account.email))
    clock.advance(rt.settings.reset_token_ttl + 1)
    assert (await reset(gqlx, token, NEW_PASSWORD))["__typename"] == "InvalidToken"
    assert (await login(gqlx, account.email, PASSWORD))["__typename"] == "LoginSuccess"

    late = await make_account()
    await request_reset(gqlx, late.email)
    clock.advance(rt.settings.reset_token_ttl + 1)  # the mail server was away for longer than the link lives
    await drain(rt)
    assert smtp_sink.to(late.email) == []
    row = await OutboxMessage.filter(to_address=late.email).get()
    assert row.status == OutboxStatus.EXPIRED and row.payload is None


async def test_the_newest_token_voids_the_older_ones(rt, gqlx, make_account, smtp_sink):
    account = await make_account()
    await request_reset(gqlx, account.email)
    first = token_from(await reset_letter(rt, smtp_sink, account.email))
    await request_reset(gqlx, account.email)
    second = token_from(await reset_letter(rt, smtp_sink, account.email, 2))
    assert first != second
    assert (await reset(gqlx, first, NEW_PASSWORD))["__typename"] == "InvalidToken"
    assert (await reset(gqlx, second, NEW_PASSWORD))["__typename"] == "PasswordResetSucceeded"


async def test_a_rejected_password_leaves_the_token_usable(rt, gqlx, make_account, smtp_sink):
    account = await make_account()
    await request_reset(gqlx, account.email)
    token = token_from(await reset_letter(rt, smtp_sink, account.email))
    for password, confirmation, code in [
        ("short", "short", "PASSWORD_TOO_SHORT"),
        ("password1234", "password1234", "PASSWORD_TOO_COMMON"),
        (account.email + " and more", account.email + " and more", "PASSWORD_CONTAINS_IDENTIFIER"),
        (NEW_PASSWORD, NEW_PASSWORD + "!", "PASSWORDS_DO_NOT_MATCH"),
        ("x" * 300, "x" * 300, "PASSWORD_TOO_LONG"),
    ]:
        answer = await reset(gqlx, token, password, confirmation)
        assert answer["__typename"] == "ValidationError", answer
        assert [f["code"] for f in answer["fields"]] == [code]
    assert (await reset(gqlx, token, NEW_PASSWORD))["__typename"] == "PasswordResetSucceeded"


async def test_a_token_dies_with_a_password_change_or_a_disabled_account(rt, gqlx, make_account, smtp_sink):
    account = await make_account()
    await request_reset(gqlx, account.email)
    token = token_from(await reset_letter(rt, smtp_sink, account.email))
    assert await void_reset_tokens(rt, account.id) == 1  # what a password or e-mail change calls
    assert (await reset(gqlx, token, NEW_PASSWORD))["__typename"] == "InvalidToken"

    other = await make_account()
    await request_reset(gqlx, other.email)
    token = token_from(await reset_letter(rt, smtp_sink, other.email))
    await Account.filter(id=other.id).update(status=AccountStatus.DISABLED)
    assert (await reset(gqlx, token, NEW_PASSWORD))["__typename"] == "InvalidToken"


async def test_every_session_is_dead_after_a_reset(rt, app, make_account, smtp_sink):
    account = await make_account()
    async with client_at(app) as a, client_at(app) as b, client_at(app) as c:
        ga, gb, gc = GQL(a), GQL(b), GQL(c)
        sa = (await login(ga, account.email, PASSWORD))["session"]
        sb = (await login(gb, account.login or account.email, PASSWORD))["session"]
        for g, s in ((ga, sa), (gb, sb)):
            assert (await g(ME, headers={"Authorization": f"Bearer {s['accessToken']}"}))["me"] is not None
        await request_reset(gc, account.email)
        token = token_from(await reset_letter(rt, smtp_sink, account.email))
        assert (await reset(gc, token, NEW_PASSWORD))["__typename"] == "PasswordResetSucceeded"
        for g, s in ((ga, sa), (gb, sb)):
            assert (await g(ME, headers={"Authorization": f"Bearer {s['accessToken']}"}))["me"] is None
            refreshed = await g(REFRESH, {"t": s["refreshToken"]})
            assert refreshed["refreshSession"]["__typename"] == "InvalidCredentials"
        # The browser that had a cookie is signed out too.
        assert (await ga(ME))["me"] is None


async def test_reset_letters_per_account_are_capped_with_an_unchanged_answer(rt, app, make_account, smtp_sink):
    account = await make_account()
    answers = []
    for _ in range(RESET_LETTERS_PER_ACCOUNT.count + 2):
        async with client_at(app) as c:  # from different addresses: the cap is per account
            answers.append(await request_reset(GQL(c), account.email))
    assert all(a == answers[0] for a in answers)
    await drain(rt)
    await smtp_sink.wait_for(account.email, RESET_LETTERS_PER_ACCOUNT.count)
    await asyncio.sleep(0.2)
    assert len(smtp_sink.to(account.email)) == RESET_LETTERS_PER_ACCOUNT.count


async def test_wrong_tokens_are_throttled_per_client(rt, app, gqlx, make_account, smtp_sink):
    account = await make_account()
    await request_reset(gqlx, account.email)
    token = token_from(await reset_letter(rt, smtp_sink, account.email))
    async with client_at(app) as guesser:
        g = GQL(guesser)
        for _ in range(WRONG_TOKENS_PER_CLIENT.count):
            assert (await reset(g, "A" * 43, NEW_PASSWORD))["__typename"] == "InvalidToken"
        blocked = await reset(g, token, NEW_PASSWORD)  # even the right one, from this client, for a while
        assert blocked["__typename"] == "TooManyAttempts" and blocked["retryAfterSeconds"] > 0
    assert (await reset(gqlx, token, NEW_PASSWORD))["__typename"] == "PasswordResetSucceeded"


async def test_a_database_dump_holds_no_usable_token(rt, gqlx, make_account, smtp_sink):
    account = await make_account()
    await request_reset(gqlx, account.email)
    row = await OutboxMessage.filter(to_address=account.email).get()
    tokens = await PasswordResetToken.filter(account_id=account.id).values_list("token_hash", flat=True)
    token = token_from(await reset_letter(rt, smtp_sink, account.email))
    assert row.payload and token not in row.payload and "reset-password" not in row.payload
    assert tokens == [rt.tokens.digest("password-reset", token)] and token not in tokens
    await row.refresh_from_db()
    assert row.status == OutboxStatus.SENT and row.payload is None  # erased once sent


async def test_the_letter_speaks_the_account_language_else_the_request(rt, app, make_account, smtp_sink):
    english = await make_account(preferred_language="en")
    async with client_at(app) as c:
        await request_reset(GQL(c), english.email)  # a Russian-speaking request: the account's choice wins
    letter = await reset_letter(rt, smtp_sink, english.email)
    assert letter.subject.startswith("Reset your password")
    assert letter.message["Content-Language"] == "en"

    async with client_at(app) as c:
        answer = await request_reset(GQL(c), f"{unique()}@example.ru", headers={"Accept-Language": "en"})
    assert answer["message"].startswith("If such an account exists")


async def test_audit_records_requests_for_known_and_unknown_and_the_reset(rt, gqlx, make_account, smtp_sink):
    account = await make_account()
    before = await AuditEvent.filter(action="password.reset_requested", subject_id__isnull=True).count()
    await request_reset(gqlx, f"{unique()}@example.ru")
    assert await AuditEvent.filter(action="password.reset_requested", subject_id__isnull=True).count() == before + 1
    await request_reset(gqlx, account.email)
    token = token_from(await reset_letter(rt, smtp_sink, account.email))
    await reset(gqlx, token, NEW_PASSWORD)
    actions = await AuditEvent.filter(subject_id=account.id).order_by("id").values_list("action", flat=True)
    assert actions[-2:] == ["password.reset_requested", "password.reset"]


async def test_fifty_concurrent_spends_of_one_token_succeed_once(rt, app, make_account, smtp_sink, on_postgres):
    if not on_postgres:
        pytest.skip("the race needs PostgreSQL's concurrent transactions (SQLite serialises every write)")
    account = await make_account()
    async with client_at(app) as c:
        await request_reset(GQL(c), account.email)
    token = token_from(await reset_letter(rt, smtp_sink, account.email))
    passwords = [f"concurrent passphrase number {i:02d}" for i in range(50)]
    outcomes = await asyncio.gather(*(
        reset_password(rt, token, p, p, ClientInfo(address=new_address())) for p in passwords
    ))
    winners = [p for p, o in zip(passwords, outcomes, strict=True) if isinstance(o, PasswordReset)]
    assert len(winners) == 1, outcomes
    # Checked against the stored hash: 49 failed sign-ins in a row would (rightly) lock the account.
    stored = (await Account.get(id=account.id)).password_hash
    working = [p for p in passwords if await rt.passwords.verify(stored, p)]
    assert working == winners
    async with client_at(app) as c:
        assert (await login(GQL(c), account.email, winners[0]))["__typename"] == "LoginSuccess"
    await drain(rt)
    changed = [letter for letter in smtp_sink.to(account.email) if "изменён" in letter.subject]
    assert len(changed) == 1
