"""Local accounts, the three ways to sign in, sessions, refresh rotation, logout and revocation."""

from __future__ import annotations

import pytest

from portal.identity.sessions import revoke_sessions
from portal.models.accounts import Account, AccountStatus, RefreshToken, Session
from tests.helpers import LOGIN, PASSWORD, SAME_ORIGIN, sign_in, unique

ME = "{ me { id email phone login fullName role hasPassword emailVerified linkedIdentities { provider } } }"
REFRESH = """
mutation($t: String!) { refreshSession(refreshToken: $t) {
  __typename ... on LoginSuccess { session { accessToken refreshToken } } ... on Error { message } } }
"""
LOGOUT = "mutation { logout { __typename ... on LoggedOut { message } ... on Error { message } } }"


def bearer(token: str) -> dict[str, dict[str, str]]:
    return {"headers": {"Authorization": f"Bearer {token}"}}


async def test_sign_in_by_email_phone_and_login_in_any_notation(gql, make_account):
    login = unique("ivan.")
    phone_tail = str(9_000_000 + int.from_bytes(login.encode()[-3:], "big") % 999_999).zfill(7)
    account = await make_account(email=f" {login.upper()}@Example.RU ", phone=f"8 912 {phone_tail}", login=login.upper())
    assert account.email == f"{login}@example.ru"
    assert account.phone == f"+7912{phone_tail}"
    assert account.login == login

    forms = [
        f"{login.upper()}@EXAMPLE.ru",
        f"  {login}@example.ru ",
        f"+7 (912) {phone_tail[:3]}-{phone_tail[3:5]}-{phone_tail[5:]}",
        f"8 912 {phone_tail}",
        f"+7912{phone_tail}",
        login.upper(),
    ]
    for identifier in forms:
        session = await sign_in(gql, identifier)
        assert session["account"]["id"] == str(account.id)
        me = await gql(ME, **bearer(session["accessToken"]))
        assert me["me"]["email"] == f"{login}@example.ru"
        assert me["me"]["hasPassword"] is True
        assert me["me"]["role"] == "RESIDENT"
        assert me["me"]["linkedIdentities"] == []


async def test_every_failure_is_the_same_answer(gql, make_account):
    account = await make_account()
    disabled = await make_account()
    await Account.filter(id=disabled.id).update(status=AccountStatus.DISABLED)
    passwordless = await make_account(password=None)

    answers = []
    for identifier, password in [
        (account.email, "wrong password entirely"),
        (f"{unique('nobody')}@example.ru", PASSWORD),
        (unique("nologin"), PASSWORD),
        ("+7 999 000-00-00", PASSWORD),
        (disabled.email, PASSWORD),
        (passwordless.email, PASSWORD),
        ("not an identifier at all!", PASSWORD),
    ]:
        response = await gql.raw(LOGIN, {"identifier": identifier, "password": password})
        assert response.status_code == 200
        answers.append(response.json()["data"]["login"])
    assert all(a == {"__typename": "InvalidCredentials", "message": "Неверный логин или пароль."} for a in answers)


async def test_messages_in_english_when_asked(gql):
    data = await gql(
        LOGIN, {"identifier": "nobody@example.ru", "password": "x" * 12}, headers={"Accept-Language": "en-GB,en;q=0.9"}
    )
    assert data["login"]["message"] == "Wrong sign-in name or password."


async def test_password_compared_exactly_as_typed(gql, make_account):
    long_password = "Жили-были дед да баба, и была у них курочка Ряба. " * 2  # 100 characters
    account = await make_account(password=long_password)
    await sign_in(gql, account.email, long_password)
    for variant in (long_password[:72], long_password.strip(), long_password.upper(), " " + long_password):
        data = await gql(LOGIN, {"identifier": account.email, "password": variant})
        assert data["login"]["__typename"] == "InvalidCredentials"


async def test_oversized_and_empty_input_is_a_validation_error(gql):
    data = await gql(LOGIN, {"identifier": "a@example.ru", "password": "x" * 60_000})
    assert data["login"]["__typename"] == "ValidationError"
    assert data["login"]["fields"][0]["code"] == "PASSWORD_TOO_LONG"
    huge = await gql.raw(LOGIN, {"identifier": "a@example.ru", "password": "x" * 1_000_000})
    assert huge.status_code == 413 and huge.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"
    data = await gql(LOGIN, {"identifier": "   ", "password": "whatever password"})
    assert data["login"]["fields"][0] == {"field": "identifier", "code": "REQUIRED", "message": "Заполните это поле."}
    data = await gql(LOGIN, {"identifier": "a\r\nBcc: x@evil.example", "password": "whatever password"})
    assert data["login"]["fields"][0]["code"] == "INVALID_CHARACTERS"


async def test_refresh_rotates_and_a_replay_revokes_the_family(gql, make_account):
    account = await make_account()
    first = await sign_in(gql, account.email)
    rotated = (await gql(REFRESH, {"t": first["refreshToken"]}))["refreshSession"]
    assert rotated["__typename"] == "LoginSuccess"
    second = rotated["session"]
    assert second["refreshToken"] != first["refreshToken"]
    assert second["accessToken"] != first["accessToken"]
    # the old access token is replaced, the new one works
    assert (await gql(ME, **bearer(first["accessToken"])))["me"] is None
    assert (await gql(ME, **bearer(second["accessToken"])))["me"]["id"] == str(account.id)

    replay = (await gql(REFRESH, {"t": first["refreshToken"]}))["refreshSession"]
    assert replay["__typename"] == "InvalidCredentials"
    # the replay killed the whole family: the newest tokens are dead too
    assert (await gql(ME, **bearer(second["accessToken"])))["me"] is None
    assert (await gql(REFRESH, {"t": second["refreshToken"]}))["refreshSession"]["__typename"] == "InvalidCredentials"


async def test_refresh_tokens_are_stored_only_as_hashes(gql, make_account):
    account = await make_account()
    session = await sign_in(gql, account.email)
    rows = await RefreshToken.filter(session__account_id=account.id).values_list("token_hash", flat=True)
    sessions = await Session.filter(account_id=account.id).values_list("access_hash", flat=True)
    assert session["refreshToken"] not in rows and session["accessToken"] not in sessions
    assert all(len(h) == 64 for h in [*rows, *sessions])


async def test_logout_ends_the_session_at_once(gql, make_account):
    account = await make_account()
    a = await sign_in(gql, account.email)
    b = await sign_in(gql, account.email)
    assert a["accessToken"] != b["accessToken"]
    assert (await gql(LOGOUT, **bearer(a["accessToken"])))["logout"]["__typename"] == "LoggedOut"
    assert (await gql(ME, **bearer(a["accessToken"])))["me"] is None
    assert (await gql(REFRESH, {"t": a["refreshToken"]}))["refreshSession"]["__typename"] == "InvalidCredentials"
    assert (await gql(ME, **bearer(b["accessToken"])))["me"] is not None  # other device unaffected
    assert (await gql(LOGOUT))["logout"]["__typename"] == "NotAuthenticated"


async def test_revoking_and_disabling_end_sessions_immediately(gql, make_account, rt):
    account = await make_account()
    a = await sign_in(gql, account.email)
    await revoke_sessions(rt, account_id=account.id)
    assert (await gql(ME, **bearer(a["accessToken"])))["me"] is None

    b = await sign_in(gql, account.email)
    await Account.filter(id=account.id).update(status=AccountStatus.DISABLED)
    assert (await gql(ME, **bearer(b["accessToken"])))["me"] is None
    assert (await gql(REFRESH, {"t": b["refreshToken"]}))["refreshSession"]["__typename"] == "InvalidCredentials"


async def test_access_token_expires_and_refresh_has_an_absolute_limit(gql, make_account, clock, rt):
    account = await make_account()
    session = await sign_in(gql, account.email)
    clock.advance(rt.settings.access_token_ttl + 1)
    assert (await gql(ME, **bearer(session["accessToken"])))["me"] is None
    refreshed = (await gql(REFRESH, {"t": session["refreshToken"]}))["refreshSession"]
    assert refreshed["__typename"] == "LoginSuccess"
    clock.advance(rt.settings.session_max_age)
    again = (await gql(REFRESH, {"t": refreshed["session"]["refreshToken"]}))["refreshSession"]
    assert again["__typename"] == "InvalidCredentials"


async def test_cookie_session_is_new_at_each_sign_in_and_http_only(client, gql, make_account):
    account = await make_account()
    client.cookies.set("portal_session", "planted-by-attacker")
    response = await gql.raw(LOGIN, {"identifier": account.email, "password": PASSWORD}, headers=SAME_ORIGIN)
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    new_value = response.cookies.get("portal_session")
    assert new_value and new_value != "planted-by-attacker"
    client.cookies.set("portal_session", new_value)
    me = await gql(ME)
    assert me["me"]["id"] == str(account.id)
    await gql(LOGOUT)
    client.cookies.set("portal_session", new_value)  # a copied cookie replayed after logout
    assert (await gql(ME))["me"] is None


async def test_a_bearer_client_never_gets_a_cookie(client, gql, make_account):
    """Issue 14, item 10: `login` from an app or server (no `Origin`, no `Sec-Fetch-Site`), or from another
    site's page, answers tokens only; a client that drops its bearer token is signed out, whatever its HTTP
    library kept."""
    account = await make_account()
    cross_site = {"origin": "https://evil.example", "sec-fetch-site": "cross-site"}
    for headers in ({}, {"sec-fetch-site": "none"}, cross_site):
        response = await gql.raw(LOGIN, {"identifier": account.email, "password": PASSWORD}, headers=headers)
        assert response.json()["data"]["login"]["__typename"] == "LoginSuccess", response.text
        assert "set-cookie" not in response.headers, headers
        assert not client.cookies
        assert (await gql(ME))["me"] is None
        refreshed = await gql.raw(REFRESH, {"t": response.json()["data"]["login"]["session"]["refreshToken"]})
        assert refreshed.json()["data"]["refreshSession"]["__typename"] == "LoginSuccess"
        assert "set-cookie" not in refreshed.headers


async def test_rehash_on_sign_in_when_parameters_change(gql, make_account, rt):
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    account = await make_account()
    await Account.filter(id=account.id).update(password_hash=weak)
    await sign_in(gql, account.email)
    stored = (await Account.get(id=account.id)).password_hash
    assert stored != weak and "m=19456,t=2,p=1" in stored


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"email": "not-an-email"}, "INVALID_EMAIL"),
        ({"email": ("a" * 250) + "@example.ru"}, "TOO_LONG"),
        ({"phone": "+7 000"}, "INVALID_PHONE"),
        ({"login": "ab"}, "INVALID_CHARACTERS"),
        ({"login": "89123456789"}, "INVALID_CHARACTERS"),
        ({"login": "ivan@home"}, "INVALID_CHARACTERS"),
        ({"password": "short pw"}, "PASSWORD_TOO_SHORT"),
        ({"password": "x" * 257}, "PASSWORD_TOO_LONG"),
        ({"password": "1qaz2wsx3edc4rfv"}, "PASSWORD_TOO_COMMON"),
        ({"password": "PASSWORD12345"}, "PASSWORD_TOO_COMMON"),
        ({"full_name": "  "}, "REQUIRED"),
        ({"full_name": "x" * 201}, "TOO_LONG"),
    ],
)
async def test_account_validation_codes(rt, fields, code):
    from portal.core.errors import Invalid
    from portal.identity.accounts import NewAccount, create_account

    values = dict(full_name="Иван", email=f"{unique()}@example.ru", password=PASSWORD)
    values.update(fields)
    result = await create_account(rt, NewAccount(**values))
    assert isinstance(result, Invalid)
    assert code in [p.code for p in result.problems]


async def test_password_containing_own_identifiers_is_refused(rt):
    from portal.core.errors import Invalid
    from portal.identity.accounts import NewAccount, create_account

    login = unique("pavel")
    for password in (f"my login is {login}!", f"{login}@example.ru and more", "tel 9123456780 is mine"):
        result = await create_account(
            rt,
            NewAccount(full_name="П", email=f"{login}@example.ru", login=login, phone="+79123456780", password=password),
        )
        assert isinstance(result, Invalid)
        assert [p.code for p in result.problems] == ["PASSWORD_CONTAINS_IDENTIFIER"]


async def test_long_unicode_passwords_with_spaces_are_accepted_and_normalised(gql, make_account):
    password = "Ｃｏｒｒｅｃｔ лошадь батарейка скрепка 🐴 " * 2  # full-width letters, Cyrillic, emoji: > 64 chars
    account = await make_account(password=password)
    await sign_in(gql, account.email, password)
    import unicodedata

    await sign_in(gql, account.email, unicodedata.normalize("NFKC", password))  # the same password after NFKC


async def test_duplicate_identifiers_are_refused(rt, make_account):
    from portal.core.errors import Invalid
    from portal.identity.accounts import NewAccount, create_account

    account = await make_account(login=unique("dup"))
    result = await create_account(rt, NewAccount(full_name="X", email=account.email.upper(), password=PASSWORD))
    assert isinstance(result, Invalid) and result.problems[0].code == "ALREADY_EXISTS"
    result = await create_account(rt, NewAccount(full_name="X", login=account.login.upper(), password=PASSWORD))
    assert isinstance(result, Invalid) and result.problems[0].field == "login"


async def test_cookies_are_host_prefixed_and_secure_outside_loopback(
    data_dir, database_url, smtp_sink, clock, database, make_account
):
    """docs/security.md #22: behind an https public URL every session cookie is `__Host-`/`__Secure-`, Secure,
    HttpOnly, SameSite=Lax, host-only; the loopback names are never used there."""
    import httpx

    from portal.api.app import create_app
    from portal.core.runtime import Runtime
    from tests.helpers import make_settings

    public = "https://portal.example.ru"
    rt = Runtime(make_settings(data_dir, database_url, smtp_sink.port, public_url=public), clock)
    app = create_app(runtime=rt, manage_database=False)
    account = await make_account()
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url=public) as c:
        c.cookies.set("portal_session", "planted-by-attacker")
        done = await c.post("/graphql", json={"query": LOGIN, "variables": {"identifier": account.email,
                                                                           "password": PASSWORD}},
                            headers={"origin": public, "sec-fetch-site": "same-origin"})
        assert done.json()["data"]["login"]["__typename"] == "LoginSuccess", done.text
        set_cookies = {h.split("=", 1)[0]: h for h in done.headers.get_list("set-cookie")}
        assert set(set_cookies) == {"__Host-portal_session"}, set_cookies
        for name, header in set_cookies.items():
            attributes = [a.strip().lower() for a in header.split(";")[1:]]
            assert {"secure", "httponly", "samesite=lax"} <= set(attributes), header
            assert not any(a.startswith("domain") for a in attributes), header
        assert "path=/" in set_cookies["__Host-portal_session"].lower().split("; ")
        c.cookies.delete("portal_session")
        assert (await c.post("/graphql", json={"query": "{ me { id } }"})).json()["data"]["me"]["id"] == str(account.id)

        page = await c.get("/login")  # the pages' CSRF cookie follows the same rule
        page_cookies = {h.split("=", 1)[0]: h.lower() for h in page.headers.get_list("set-cookie")}
        assert page_cookies and all(name.startswith("__Host-") for name in page_cookies), page_cookies
        assert all("secure" in h and "httponly" in h and "samesite=lax" in h for h in page_cookies.values())


async def test_an_idle_session_ends_without_an_absolute_timeout_yet(gql, make_account, clock, rt):
    """docs/security.md #23 (idle): a refresh token unused for its lifetime is dead; used in time, it rolls on."""
    account = await make_account()
    session = await sign_in(gql, account.email)
    ttl = rt.settings.refresh_token_ttl
    assert ttl < rt.settings.session_max_age
    clock.advance(ttl - 60)  # active just inside the idle window: the session rolls on
    rotated = (await gql(REFRESH, {"t": session["refreshToken"]}))["refreshSession"]
    assert rotated["__typename"] == "LoginSuccess"
    clock.advance(ttl + 1)  # then idle for longer than the window
    idle = (await gql(REFRESH, {"t": rotated["session"]["refreshToken"]}))["refreshSession"]
    assert idle["__typename"] == "InvalidCredentials"
    assert (await gql(ME, **bearer(rotated["session"]["accessToken"])))["me"] is None


async def test_session_tokens_are_long_random_references_and_erasure_ends_them(gql, make_account, rt):
    """docs/security.md #21: access and refresh tokens carry ≥ 128 bits (43 URL-safe characters = 256 bits), never
    repeat, and an erased account's tokens stop working at once."""
    import re

    from portal.support.privacy import erase_account

    account = await make_account()
    sessions = [await sign_in(gql, account.email) for _ in range(3)]
    tokens = [s[k] for s in sessions for k in ("accessToken", "refreshToken")]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43,}", t) for t in tokens), tokens
    assert len(set(tokens)) == len(tokens)
    erased = await erase_account(rt, account.id, actor=None, client=None)
    assert isinstance(erased, dict) and erased["sessions_revoked"] == 3
    for s in sessions:
        assert (await gql(ME, **bearer(s["accessToken"])))["me"] is None
        assert (await gql(REFRESH, {"t": s["refreshToken"]}))["refreshSession"]["__typename"] == "InvalidCredentials"
