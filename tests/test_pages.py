"""The residents' web pages through the ASGI app: forms, CSRF, the browser session, `next`, language, headers."""

from __future__ import annotations

import asyncio
import html
import random
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from portal.models.accounts import Session
from portal.models.support import Ticket
from tests.helpers import (
    NEW_PASSWORD,
    PASSWORD,
    PUBLIC_URL,
    csrf_of,
    drain,
    hidden,
    new_address,
    page_sign_in,
    token_from,
    unique,
)

FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def client(page_client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Every page test browses from an address of its own (conftest's `page_client`)."""
    return page_client


def session_cookie(client: httpx.AsyncClient) -> str | None:
    return client.cookies.get("portal_session")


async def test_login_page_is_a_real_form_for_password_managers(client):
    response = await client.get("/login")
    assert response.status_code == 200
    page = response.text
    assert '<html lang="ru">' in page
    assert '<form class="form" method="post" action="/login"' in page
    assert re.search(r'<input[^>]+name="identifier"[^>]+autocomplete="username webauthn"', page)  # passkey autofill too
    assert re.search(r'<input[^>]+name="password"[^>]+type="password"[^>]+autocomplete="current-password"', page)
    assert '<label class="field__label" for="f-identifier">' in page and 'for="f-password"' in page
    # «Забыли пароль?» right under the password field, before the submit button.
    password_at, forgot_at = page.index('name="password"'), page.index("Забыли пароль?")
    assert password_at < forgot_at < page.index('type="submit"')
    assert '<button class="btn btn--primary btn--wide" type="submit">Войти</button>' in page
    assert 'href="/login?lang=en"' in page  # the language switch


async def test_sign_in_through_the_form_then_account_then_sign_out(client, make_account, rt):
    account = await make_account(full_name="Анна Сергеевна Кузнецова")
    planted = "planted-before-sign-in"
    client.cookies.set("portal_session", planted, domain="127.0.0.1")
    response = await page_sign_in(client, account.email.upper())
    assert response.status_code == 303
    assert response.headers["location"] == "/account"
    set_cookies = response.headers.get_list("set-cookie")
    assert not any("refresh" in c for c in set_cookies), set_cookies  # no refresh cookie any more
    cookies = [c for c in set_cookies if c.startswith("portal_session")]
    assert len(cookies) == 1, cookies  # one browser session cookie
    (cookie,) = cookies
    assert cookie.startswith("portal_session=")
    assert "HttpOnly" in cookie and "Path=/;" in cookie and "SameSite=lax" in cookie
    max_age = int(re.search(r"Max-Age=(\d+)", cookie).group(1))  # type: ignore[union-attr]
    assert rt.settings.session_max_age - 5 <= max_age <= rt.settings.session_max_age  # idle: the server's job
    assert session_cookie(client) not in (None, planted)

    page = await client.get("/account")
    assert page.status_code == 200
    assert "Анна Сергеевна Кузнецова" in page.text and account.email in page.text
    assert "это устройство" in page.text
    assert 'data-action="signin.success"' in page.text and "Вход в личный кабинет" in page.text

    token = hidden(page.text, "csrf")
    old_access = session_cookie(client)
    out = await client.post("/session/logout", data={"csrf": token})
    assert out.status_code == 303 and out.headers["location"] == "/login?notice=signed-out"
    assert session_cookie(client) is None
    client.cookies.set("portal_session", old_access, domain="127.0.0.1")  # a copied cookie replayed after sign-out
    again = await client.get("/account")
    assert again.status_code == 303 and again.headers["location"] == "/login?next=%2Faccount"
    landing = await client.get("/login?notice=signed-out")
    assert "Вы вышли из личного кабинета." in landing.text


async def test_a_failed_sign_in_is_one_answer_and_keeps_the_identifier_not_the_password(client, make_account):
    account = await make_account()
    answers = []
    for identifier in (account.email, f"{unique('nobody')}@example.ru"):
        response = await page_sign_in(client, identifier, "a wrong password of mine")
        assert response.status_code == 401
        assert "Неверный логин или пароль." in response.text
        assert 'role="alert"' in response.text
        assert f'value="{identifier}"' in response.text
        assert "a wrong password of mine" not in response.text
        assert session_cookie(client) is None
        answers.append(response.text.replace(identifier, "X"))
    csrf_free = [re.sub(r'name="csrf" value="[^"]+"', "", a) for a in answers]
    assert csrf_free[0] == csrf_free[1]


async def test_empty_fields_are_shown_next_to_the_fields(client):
    response = await page_sign_in(client, "   ", "")
    assert response.status_code == 400
    assert 'id="e-password"' in response.text or 'id="e-identifier"' in response.text
    assert 'aria-invalid="true"' in response.text
    assert re.search(r'aria-describedby="[^"]*e-(password|identifier)', response.text)


@pytest.mark.parametrize(
    "headers,token",
    [
        ({}, None),  # no token at all
        ({}, "0" * 64),  # a made-up token
        ({"origin": "https://evil.example"}, "valid"),
        ({"sec-fetch-site": "cross-site"}, "valid"),
        ({"origin": "null"}, "valid"),
        ({"origin": "https://evil.example", "sec-fetch-site": "same-site"}, "valid"),
    ],
)
async def test_cross_site_posts_are_refused(client, make_account, headers, token):
    account = await make_account()
    valid = await csrf_of(client, "/login")
    data = {"identifier": account.email, "password": PASSWORD}
    if token is not None:
        data["csrf"] = valid if token == "valid" else token
    response = await client.post("/login", data=data, headers=headers)
    assert response.status_code == 403
    assert "Страница устарела" in response.text
    assert session_cookie(client) is None
    # The refused page carries a fresh token, so the resident can simply send it again.
    again = await client.post("/login", data={**data, "csrf": hidden(response.text, "csrf")})
    assert again.status_code == 303


async def test_a_no_referrer_page_posting_with_origin_null_is_same_origin(client, make_account):
    """Chrome sends `Origin: null` from a `Referrer-Policy: no-referrer` page; Sec-Fetch-Site still says who."""
    account = await make_account()
    token = await csrf_of(client, "/login")
    response = await client.post(
        "/login",
        data={"csrf": token, "identifier": account.email, "password": PASSWORD},
        headers={"origin": "null", "sec-fetch-site": "same-origin"},
    )
    assert response.status_code == 303


async def test_a_token_from_another_browser_does_not_work(app, client, make_account):
    account = await make_account()
    other_token = await csrf_of(client, "/login")
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40001))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as victim:
        await victim.get("/login")  # the victim has a CSRF cookie of its own
        response = await victim.post(
            "/login", data={"csrf": other_token, "identifier": account.email, "password": PASSWORD}
        )
        assert response.status_code == 403


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/account",
        "/\\evil.example",
        "\\\\evil.example",
        "/%2F%2Fevil.example",
        "/\t/evil.example",
        " https://evil.example",
        "javascript:alert(1)",
        "http://127.0.0.1:8000@evil.example/account",
        "https:evil.example",
        "/account/../../evil",
        "/graphql",
        "/session/logout",
        "evil.example",
    ],
)
async def test_next_never_leaves_the_portal(client, make_account, target):
    account = await make_account()
    shown = await client.get("/login", params={"next": target})
    assert hidden(shown.text, "next") == "/account"
    response = await page_sign_in(client, account.email, next=target)
    assert response.status_code == 303
    assert response.headers["location"] == "/account"


@pytest.mark.parametrize(
    "target,expected",
    [
        (
            "/oauth/authorize?client_id=abc&redirect_uri=https%3A%2F%2Fpartner.example%2Fcb&state=xyz",
            "/oauth/authorize?client_id=abc&redirect_uri=https%3A%2F%2Fpartner.example%2Fcb&state=xyz",
        ),
        (PUBLIC_URL + "/oauth/authorize?client_id=abc", "/oauth/authorize?client_id=abc"),
        ("/support/status?number=2026-000001&key=k", "/support/status?number=2026-000001&key=k"),
    ],
)
async def test_next_resumes_a_request_on_the_portal(client, make_account, target, expected):
    account = await make_account()
    shown = await client.get("/login", params={"next": target})
    assert hidden(shown.text, "next") == expected
    response = await page_sign_in(client, account.email, next=target)
    assert response.status_code == 303
    location = response.headers["location"]
    if expected.startswith("/oauth/authorize"):  # resumed with the server's mark of this sign-in, nothing else
        location, mark = location.rsplit("&resume=", 1)
        assert re.fullmatch(r"[0-9a-f]{64}", mark)
    assert location == expected


async def test_signed_in_visitor_of_login_goes_to_next(client, make_account):
    account = await make_account()
    await page_sign_in(client, account.email)
    response = await client.get("/login", params={"next": "/oauth/authorize?client_id=abc"})
    assert response.status_code == 303 and response.headers["location"] == "/oauth/authorize?client_id=abc"


async def test_language_from_header_then_switch_remembered(client):
    english = await client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9,ru;q=0.5"})
    assert '<html lang="en">' in english.text and "Forgot your password?" in english.text

    switch = await client.get("/login", params={"next": "/account", "lang": "en"})
    assert switch.status_code == 303
    assert switch.headers["location"] == "/login?next=%2Faccount"
    cookie = switch.headers["set-cookie"]
    assert cookie.startswith("portal_lang=en;") and "Max-Age=31536000" in cookie
    remembered = await client.get("/login", headers={"Accept-Language": "ru"})
    assert '<html lang="en">' in remembered.text and "Sign in to your account" in remembered.text
    assert 'href="/login?lang=ru"' in remembered.text

    back = await client.get("/login", params={"lang": "ru"})
    assert back.headers["set-cookie"].startswith("portal_lang=ru;")
    assert "Вход в личный кабинет" in (await client.get("/login")).text
    ignored = await client.get("/login", params={"lang": "xx"})
    assert ignored.status_code == 303 and "set-cookie" not in ignored.headers


async def test_sign_in_errors_follow_the_language(client):
    await client.get("/login", params={"lang": "en"})
    response = await page_sign_in(client, f"{unique('nobody')}@example.ru", "a wrong password of mine")
    assert "Wrong sign-in name or password." in response.text


async def test_one_browser_session_outlives_the_access_lifetime_and_ends_when_idle(client, clock, make_account, rt):
    """Issue 15: the cookie names the server-side session; idle timeout and absolute lifetime are the server's."""
    account = await make_account()
    await page_sign_in(client, account.email)
    cookie = session_cookie(client)
    clock.advance(rt.settings.access_token_ttl + 5)  # the old 15-minute access cookie would be gone by now
    assert (await client.get("/account")).status_code == 200
    assert session_cookie(client) == cookie  # nothing rotated, nothing re-set
    assert (await client.get("/session/refresh", params={"next": "/account"})).status_code == 404
    clock.advance(rt.settings.session_idle_timeout - 10)  # used a moment ago: the idle timeout counts from there
    assert (await client.get("/account")).status_code == 200
    clock.advance(rt.settings.session_idle_timeout + 1)
    idle = await client.get("/account")
    assert idle.status_code == 303 and idle.headers["location"] == "/login?next=%2Faccount"
    assert session_cookie(client) is None or (await client.get("/account")).status_code == 303


async def test_absolute_lifetime_ends_a_busy_browser_session(client, clock, make_account, rt):
    account = await make_account()
    await page_sign_in(client, account.email)
    step = rt.settings.session_idle_timeout - 60
    used = 0
    while used + step < rt.settings.session_max_age:
        clock.advance(step)
        used += step
        assert (await client.get("/account")).status_code == 200
    clock.advance(rt.settings.session_max_age - used + 1)
    assert (await client.get("/account")).status_code == 303


async def test_simultaneous_cross_site_requests_do_not_end_the_session(client, make_account):
    """Defect 7: a hostile page firing parallel cross-site GETs with the resident's cookie ends nothing."""
    account = await make_account()
    await page_sign_in(client, account.email)
    cross_site = {"sec-fetch-site": "cross-site", "referer": "https://evil.example/"}
    answers = await asyncio.gather(
        *(client.get(path, headers=cross_site) for path in ("/account", "/account", "/session/refresh", "/login"))
    )
    assert [a.status_code for a in answers] == [200, 200, 404, 303]
    assert (await client.get("/account")).status_code == 200


async def test_sign_out_of_all_other_devices(app, client, make_account, rt):
    account = await make_account()
    others: list[httpx.AsyncClient] = []
    for port in (40011, 40012):
        other = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("127.0.0.1", port)),
            base_url=PUBLIC_URL,
            headers={"User-Agent": "Mozilla/5.0 (Linux; Android 10) Chrome/120.0 Mobile Safari/537.36"},
        )
        assert (await page_sign_in(other, account.email)).status_code == 303
        others.append(other)
    await page_sign_in(client, account.email)
    page = await client.get("/account")
    assert page.text.count('class="row') >= 3 and "Chrome, Android" in page.text

    refused = await client.post("/account/sessions/end-others", data={"csrf": "nope"})
    assert refused.status_code == 403
    assert (await others[0].get("/account")).status_code == 200

    done = await client.post("/account/sessions/end-others", data={"csrf": hidden(page.text, "csrf")})
    assert done.status_code == 303 and done.headers["location"] == "/account?notice=others-ended"
    mine = await client.get(done.headers["location"])
    assert "Готово: вы вышли на всех других устройствах." in mine.text
    assert 'data-action="sessions.revoked_others"' in mine.text
    assert "Вход выполнен только на этом устройстве." in mine.text
    for other in others:
        gone = await other.get("/account")
        assert gone.status_code == 303 and gone.headers["location"].startswith("/login")
        await other.aclose()
    live = await Session.filter(account_id=account.id, revoked_at__isnull=True).count()
    assert live == 1


async def test_page_headers_and_no_inline_code(client):
    response = await client.get("/login")
    h = response.headers
    assert h["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in h["content-security-policy"]
    assert "unsafe-inline" not in h["content-security-policy"]
    assert h["cache-control"] == "no-store"
    assert h["x-content-type-options"] == "nosniff"
    assert not re.search(r"<script(?![^>]*\bsrc=)", response.text)
    assert "<style" not in response.text and " style=" not in response.text
    for asset in ("/static/portal.css", "/static/portal.js", "/static/icon.svg"):
        static = await client.get(asset)
        assert static.status_code == 200, asset


async def test_forms_refuse_other_encodings_and_huge_bodies(client):
    token = await csrf_of(client, "/login")
    as_json = await client.post("/login", json={"csrf": token, "identifier": "a", "password": "b"})
    assert as_json.status_code == 403
    huge = await client.post(
        "/login", content=b"csrf=" + token.encode() + b"&identifier=" + b"a" * 40_000, headers=FORM
    )
    assert huge.status_code == 403

    async def chunked():  # no Content-Length: the limit holds while reading
        yield b"csrf=" + token.encode() + b"&identifier="
        for _ in range(40):
            yield b"a" * 1024

    streamed = await client.post("/login", content=chunked(), headers=FORM)
    assert streamed.status_code == 403
    assert "a" * 1024 not in streamed.text


async def test_a_post_after_the_idle_timeout_comes_back_to_the_page(client, clock, make_account, rt):
    account = await make_account()
    await page_sign_in(client, account.email)
    token = hidden((await client.get("/account")).text, "csrf")
    clock.advance(rt.settings.session_idle_timeout + 5)
    response = await client.post("/account/sessions/end-others", data={"csrf": token})
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Faccount"


# ---- /forgot-password and /reset-password ------------------------------------------------------------------


async def mailed_token(rt, smtp_sink, email: str, count: int = 1) -> str:
    await drain(rt)
    return token_from((await smtp_sink.wait_for(email, count))[-1])


async def test_forgot_password_gives_everyone_the_same_answer(client, make_account, rt, smtp_sink):
    account = await make_account()
    page = await client.get("/forgot-password")
    assert re.search(r'<input[^>]+name="identifier"[^>]+autocomplete="username"', page.text)
    token = hidden(page.text, "csrf")
    answers = []
    for identifier in (account.email.upper(), f"{unique('nobody')}@example.ru", unique("nologin")):
        response = await client.post("/forgot-password", data={"csrf": token, "identifier": identifier})
        assert response.status_code == 303
        answers.append(response.headers["location"])
    assert answers == ["/forgot-password?sent=1"] * 3
    sent = await client.get("/forgot-password?sent=1")
    assert "Проверьте почту" in sent.text and "«Спам»" in sent.text and 'href="/support"' in sent.text
    assert "Ссылка действует 30 минут и" in sent.text  # a real plural form, not «30 мин»
    assert await mailed_token(rt, smtp_sink, account.email)

    empty = await client.post("/forgot-password", data={"csrf": token, "identifier": "  "})
    assert empty.status_code == 400 and 'id="e-identifier"' in empty.text
    forged = await client.post("/forgot-password", data={"identifier": account.email})
    assert forged.status_code == 403


async def test_reset_page_journey(client, make_account, rt, smtp_sink):
    account = await make_account()
    signed_in = await page_sign_in(client, account.email)  # a session the reset must end
    assert signed_in.status_code == 303
    old_access = session_cookie(client)
    forgot = {"csrf": await csrf_of(client, "/forgot-password"), "identifier": account.email}
    await client.post("/forgot-password", data=forgot)
    token = await mailed_token(rt, smtp_sink, account.email)

    for _ in range(3):  # opening the link spends nothing; the token leaves the address bar at once
        moved = await client.get(f"/reset-password?token={token}")
        assert moved.status_code == 303 and moved.headers["location"] == "/reset-password"
        assert moved.headers["referrer-policy"] == "no-referrer" and token not in str(moved.headers)
        shown = await client.get(moved.headers["location"])
        assert shown.status_code == 200
        assert shown.headers["referrer-policy"] == "no-referrer"
        assert token not in shown.text and 'name="token"' not in shown.text  # it travels in a sealed cookie
        assert shown.text.count('autocomplete="new-password"') == 2
        assert "Не короче 12 символов." in shown.text and 'id="password-policy"' in shown.text
    csrf = hidden(shown.text, "csrf")

    form = {"csrf": csrf, "newPassword": NEW_PASSWORD, "newPasswordConfirmation": NEW_PASSWORD + "!"}
    mismatch = await client.post("/reset-password", data=form)
    assert mismatch.status_code == 400 and mismatch.headers["referrer-policy"] == "no-referrer"
    error = re.search(r'<p class="field__error" id="e-newPasswordConfirmation">(.*?)</p>', mismatch.text)
    assert error and "Пароли не совпадают." in error.group(1)
    assert token not in mismatch.text and NEW_PASSWORD not in mismatch.text

    short = {"newPassword": "short", "newPasswordConfirmation": "short"}
    weak = await client.post("/reset-password", data={**form, **short})
    assert weak.status_code == 400 and 'id="e-newPassword"' in weak.text

    forged = await client.post("/reset-password", data={**form, "csrf": "x", "newPasswordConfirmation": NEW_PASSWORD})
    assert forged.status_code == 403 and token not in forged.text

    # Another browser (no sealed cookie) gets nothing from the clean URL; a tampered cookie is refused too.
    async with httpx.AsyncClient(transport=client._transport, base_url=PUBLIC_URL) as other:
        assert (await other.get("/reset-password")).status_code == 400
        sealed = client.cookies.get("portal_link", path="/reset-password")
        other.cookies.set("portal_link", sealed[:-4] + "AAAA", path="/reset-password")
        assert (await other.get("/reset-password")).status_code == 400

    done = await client.post("/reset-password", data={**form, "newPasswordConfirmation": NEW_PASSWORD})
    assert done.status_code == 303 and done.headers["location"] == "/reset-password?done=1"
    assert session_cookie(client) == old_access  # no automatic sign-in
    success = await client.get(done.headers["location"])
    assert "Пароль изменён" in success.text and 'href="/login"' in success.text

    again = await client.post(
        "/reset-password", data={**form, "token": token, "newPasswordConfirmation": NEW_PASSWORD}
    )  # the cookie is gone after success; the spent token, sent as a field, is refused
    assert again.status_code == 400 and "Ссылка недействительна или устарела" in again.text
    assert 'href="/forgot-password"' in again.text

    # Every earlier session is gone; the new password works through the form.
    assert (await client.get("/account")).status_code == 303
    assert (await page_sign_in(client, account.email, NEW_PASSWORD)).status_code == 303
    account_page = await client.get("/account")
    assert 'data-action="password.reset"' in account_page.text


async def test_reset_page_without_a_token_explains_and_offers_a_new_link(client):
    response = await client.get("/reset-password")
    assert response.status_code == 400
    assert "Ссылка не работает" in response.text and 'href="/forgot-password"' in response.text
    assert response.headers["referrer-policy"] == "no-referrer"


# ---- /support and /support/status --------------------------------------------------------------------------


def ticket_form(page: str, **values: str) -> dict[str, str]:
    form = {
        "csrf": hidden(page, "csrf"),
        "idempotencyKey": hidden(page, "idempotencyKey"),
        "fullName": "Петров Иван Сергеевич",
        "registrationAddress": "г. Пермь, ул. Ленина, д. 10, кв. 5",
        "phone": "8 912 345-67-89",
        "accountIdentifier": "ivan.petrov",
        "replyEmail": "",
        "category": "ACCOUNT_ACCESS",
        "description": "Не могу войти: почта старая.",
        "personalDataConsent": "yes",
    }
    form.update(values)
    return form


async def test_support_form_fields_for_browsers_and_password_managers(client):
    page = (await client.get("/support")).text
    for name, token in [
        ("fullName", "name"),
        ("registrationAddress", "street-address"),
        ("phone", "tel"),
        ("replyEmail", "email"),
        ("accountIdentifier", "username"),
    ]:
        assert re.search(rf'<input[^>]+name="{name}"[^>]+autocomplete="{token}"', page), name
    assert 'type="checkbox" id="f-personalDataConsent" name="personalDataConsent"' in page
    assert "152-ФЗ" in page and 'aria-describedby="consent-text' in page
    assert len(hidden(page, "idempotencyKey")) >= 40
    assert '<option value="ACCOUNT_ACCESS" selected>' in page
    assert '<form class="form" method="post" action="/support"' in page


async def test_support_errors_then_a_ticket_then_its_status(client, rt, smtp_sink):
    page = (await client.get("/support")).text
    reply = f"{unique('reply')}@example.ru"
    bad = ticket_form(page, phone="12-34", personalDataConsent="", replyEmail=reply)
    response = await client.post("/support", data=bad)
    assert response.status_code == 400
    assert 'id="e-phone"' in response.text and 'id="e-personalDataConsent"' in response.text
    assert 'value="Петров Иван Сергеевич"' in response.text  # nothing typed is lost
    assert hidden(response.text, "idempotencyKey") == bad["idempotencyKey"]

    good = ticket_form(response.text, replyEmail=reply)
    created = await client.post("/support", data=good)
    assert created.status_code == 303
    location = created.headers["location"]
    assert location.startswith("/support/status?number=") and location.endswith("&new=1")
    again = await client.post("/support", data=good)  # a resubmitted form: the same ticket
    assert again.headers["location"] == location
    number = re.search(r"number=([0-9-]+)", location).group(1)  # type: ignore[union-attr]
    assert await Ticket.filter(number=number).count() == 1

    status = await client.get(location)
    assert status.status_code == 200 and status.headers["referrer-policy"] == "no-referrer"
    assert "Обращение принято" in status.text and f'id="ticket-number">{number}<' in status.text
    assert "Сохраните номер" in status.text and f"Мы отправили номер и ссылку на {reply}." in status.text
    assert 'data-status="new">Новое<' in status.text
    await drain(rt)
    letter = (await smtp_sink.wait_for(reply))[-1]
    assert number in letter.text

    plain = await client.get(location.removesuffix("&new=1"))
    assert "Обращение принято" not in plain.text and "Обращение №" in plain.text
    assert "key=" not in location  # the key never appears in a URL the browser visits
    wrong = await client.get(f"/support/status?number={number}&key=wrong-key", follow_redirects=True)
    assert str(wrong.url).endswith(f"/support/status?number={number}")
    assert wrong.status_code == 404 and "Обращение не найдено." in wrong.text
    assert "data-status" not in wrong.text and "Доступ к личному кабинету" not in wrong.text  # nothing shows
    lookup = await client.get("/support/status")
    assert lookup.status_code == 200 and '<form class="form" method="get" action="/support/status"' in lookup.text


async def test_same_key_other_content_asks_to_send_again(client):
    page = (await client.get("/support")).text
    first = ticket_form(page)
    assert (await client.post("/support", data=first)).status_code == 303
    changed = await client.post("/support", data={**first, "description": "Другой текст обращения."})
    assert changed.status_code == 409
    assert hidden(changed.text, "idempotencyKey") != first["idempotencyKey"]
    resent = await client.post("/support", data=ticket_form(changed.text, description="Другой текст обращения."))
    assert resent.status_code == 303


async def test_support_form_is_prefilled_and_tied_to_the_signed_in_account(client, make_account):
    digits = f"{random.randrange(10**7):07d}"  # accounts outlive a run on a reused database: a fresh phone
    account = await make_account(full_name="Ольга Николаевна Белова", phone=f"+7 912 {digits}")
    await page_sign_in(client, account.email)
    page = (await client.get("/support")).text
    assert 'value="Ольга Николаевна Белова"' in page and f'value="{account.email}"' in page
    assert f'value="+7912{digits}"' in page
    created = await client.post("/support", data=ticket_form(page, fullName="Ольга Николаевна Белова"))
    number = re.search(r"number=([0-9-]+)", created.headers["location"]).group(1)  # type: ignore[union-attr]
    ticket = await Ticket.get(number=number)
    assert ticket.account_id == account.id  # type: ignore[attr-defined]
    assert f"Мы отправили номер и ссылку на {account.email}." in (await client.get(created.headers["location"])).text


# ---- federated sign-in buttons -----------------------------------------------------------------------------


@pytest.fixture
async def fed_client(rt, settings, clock) -> AsyncIterator[httpx.AsyncClient]:
    """An app with one configured provider whose issuer does not answer (nothing here needs it to)."""
    import json

    from portal.api.app import create_app
    from portal.core.runtime import Runtime
    from tests.helpers import free_port

    provider = {
        "id": "city",
        "name": "Городской портал",
        "issuer": f"http://127.0.0.1:{free_port()}",
        "client_id": "portal",
        "client_secret": "portal-secret-0123456789abcdef0123456789",
    }
    fed_rt = Runtime(settings.model_copy(update={"oidc_providers": json.dumps([provider])}), clock)
    app = create_app(runtime=fed_rt, manage_database=False)
    transport = httpx.ASGITransport(app=app, client=(new_address(), 40000))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as c:
        yield c


async def test_provider_buttons_are_forms_and_an_unreachable_provider_is_explained(fed_client, make_account):
    page = await fed_client.get("/login", params={"next": "/support"})
    assert '<form method="post" action="/login/federated">' in page.text
    assert 'name="provider" value="city"' in page.text and "Войти через Городской портал" in page.text
    form = {"csrf": hidden(page.text, "csrf"), "provider": "city", "next": "/support"}
    response = await fed_client.post("/login/federated", data=form)
    assert response.status_code == 303 and response.headers["location"] == "/login?problem=PROVIDER_UNAVAILABLE"
    explained = await fed_client.get(response.headers["location"])
    assert "Сервис входа сейчас недоступен" in explained.text and 'role="alert"' in explained.text
    unknown = await fed_client.post("/login/federated", data={**form, "provider": "nope"})
    assert unknown.headers["location"] == "/login?problem=UNKNOWN_PROVIDER"
    forged = await fed_client.post("/login/federated", data={**form, "csrf": "x"})
    assert forged.status_code == 303 and forged.headers["location"] == "/login"

    account = await make_account()
    await page_sign_in(fed_client, account.email)
    mine = await fed_client.get("/account")
    assert "Привязать Городской портал" in mine.text
    gone = await fed_client.post(
        "/account/identities/unlink", data={"csrf": hidden(mine.text, "csrf"), "provider": "city"}
    )
    assert gone.headers["location"] == "/account?problem=NOT_LINKED"
    assert "Этот способ входа не привязан" in (await fed_client.get(gone.headers["location"])).text


async def test_a_ticket_number_alone_opens_nothing(app, client):
    """docs/security.md #47: the status page and the GraphQL lookup need the access key; the number alone shows nothing."""
    from tests.helpers import client_at

    submit = """mutation($input: SupportTicketInput!) { submitSupportTicket(input: $input) {
      __typename ... on SupportTicketSubmitted { accessKey ticket { number } } } }"""
    form = {"fullName": "Пётр Сидоров", "registrationAddress": "ул. Мира, д. 1", "phone": "+7 912 000-11-22",
            "accountIdentifier": f"{unique('p.')}@example.ru", "description": "Секретная подробность 4711",
            "personalDataConsent": True}
    async with client_at(app) as c:
        done = (await c.post("/graphql", json={"query": submit, "variables": {"input": form}})).json()
    number, key = done["data"]["submitSupportTicket"]["ticket"]["number"], done["data"]["submitSupportTicket"]["accessKey"]
    opened = await client.get("/support/status", params={"number": number, "key": key}, follow_redirects=True)
    assert opened.status_code == 200 and "data-status" in opened.text  # the pair opens it
    assert str(opened.url).endswith(f"/support/status?number={number}")  # and leaves the address bar
    for params in ({"number": number}, {"number": number, "key": ""}, {"number": number, "key": number}):
        async with client_at(app) as stranger:  # a browser that never held the key
            page = await stranger.get("/support/status", params=params, follow_redirects=True)
        assert "data-status" not in page.text and "4711" not in page.text, params
    lookup = "query($n: String!, $k: String!) { supportTicket(number: $n, accessKey: $k) { number } }"
    for k in ("", number, " "):
        answer = (await client.post("/graphql", json={"query": lookup, "variables": {"n": number, "k": k}})).json()
        assert answer["data"]["supportTicket"] is None, k


async def test_a_throttled_sign_in_shows_the_wait_with_429_and_retry_after(app, make_account):
    account = await make_account()
    transport = httpx.ASGITransport(app=app, client=(new_address(), 40000))  # its own per-client count
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
        answers = [await page_sign_in(client, account.email, "not the password at all") for _ in range(6)]
    assert [a.status_code for a in answers[:5]] == [401] * 5  # the 5th failure starts a wait
    throttled = answers[5]
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1
    assert "Слишком много попыток" in html.unescape(throttled.text)
