"""The /account security pages through the ASGI app (issue 16): forms, re-authentication and return, links."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from portal.models.accounts import Account
from tests.helpers import PASSWORD, PUBLIC_URL, drain, hidden, new_address, page_sign_in, unique

NEW_PASSWORD = "в лесу родилась ёлочка 2026"
CONFIRM_RE = re.compile(re.escape(PUBLIC_URL) + r"(/confirm-email\?token=[A-Za-z0-9_\-.~]+)")
CANCEL_RE = re.compile(re.escape(PUBLIC_URL) + r"(/cancel-email-change\?token=[A-Za-z0-9_\-.~]+)")


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(new_address(), 40000))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as c:
        yield c


async def post_form(client: httpx.AsyncClient, path: str, **fields: str) -> httpx.Response:
    page = await client.get(path)
    assert page.status_code == 200, page.text[:300]
    return await client.post(path, data={"csrf": hidden(page.text, "csrf"), **fields})


async def test_change_password_page(client, make_account, rt, smtp_sink):
    account = await make_account()
    await page_sign_in(client, account.email)
    page = (await client.get("/account")).text
    assert 'href="/account/password"' in page and 'href="/account/email"' in page
    form = (await client.get("/account/password")).text
    assert re.search(r'name="currentPassword"[^>]+autocomplete="current-password"', form)
    assert re.search(r'name="newPassword"[^>]+autocomplete="new-password"', form)
    wrong = await post_form(client, "/account/password", currentPassword="nope", newPassword=NEW_PASSWORD,
                            newPasswordConfirmation=NEW_PASSWORD)
    assert wrong.status_code == 401 and "Неверный пароль." in wrong.text
    done = await post_form(client, "/account/password", currentPassword=PASSWORD, newPassword=NEW_PASSWORD,
                           newPasswordConfirmation=NEW_PASSWORD)
    assert done.status_code == 303 and done.headers["location"] == "/account?notice=password-changed"
    shown = (await client.get("/account?notice=password-changed")).text
    assert "Пароль изменён." in shown and 'data-action="password.changed"' in shown


async def test_a_stale_proof_goes_through_reauth_and_comes_back(client, clock, make_account, rt):
    account = await make_account(password=None)
    from portal.core.client import ClientInfo
    from portal.identity.sessions import issue_session, open_browser_session

    issued = await issue_session(rt, account, ClientInfo(), "fed")
    cookie = await open_browser_session(rt, issued.session)  # the browser's one session cookie (docs/sessions.md)
    client.cookies.set("portal_session", cookie, domain="127.0.0.1")
    assert (await client.get("/account/password")).status_code == 200  # a fresh sign-in is a proof
    clock.advance(601)
    stale = await client.get("/account/password")
    assert stale.status_code == 303 and stale.headers["location"] == "/account/reauth?next=%2Faccount%2Fpassword"
    reauth = (await client.get(stale.headers["location"])).text
    assert "Выйдите и войдите снова" in reauth  # no password to type: sign in again through the provider


async def test_reauth_page_takes_the_password_and_returns(client, clock, make_account):
    account = await make_account()
    await page_sign_in(client, account.email)
    page = await client.get("/account/reauth?next=/account/email")
    csrf = hidden(page.text, "csrf")
    assert hidden(page.text, "next") == "/account/email"
    wrong = await client.post("/account/reauth", data={"csrf": csrf, "next": "/account/email", "password": "x"})
    assert wrong.status_code == 401
    right = await client.post("/account/reauth", data={"csrf": csrf, "next": "/account/email", "password": PASSWORD})
    assert right.status_code == 303 and right.headers["location"] == "/account/email"
    evil = await client.post("/account/reauth", data={"csrf": csrf, "next": "https://evil.example/", "password": PASSWORD})
    assert evil.headers["location"] == "/account"


async def test_email_change_pages_and_both_links(client, make_account, rt, smtp_sink):
    account = await make_account()
    await page_sign_in(client, account.email)
    new = f"{unique('page')}@example.ru"
    sent = await post_form(client, "/account/email", newEmail=new, currentPassword=PASSWORD)
    assert sent.status_code == 303 and sent.headers["location"] == "/account?notice=email-change-sent"
    assert new in (await client.get("/account")).text  # the pending state
    await drain(rt)
    confirm = CONFIRM_RE.search((await smtp_sink.wait_for(new))[-1].text).group(1)
    cancel = CANCEL_RE.search((await smtp_sink.wait_for(account.email))[-1].text).group(1)

    moved = await client.get(confirm)  # the token leaves the address bar at once, into a sealed cookie
    assert moved.status_code == 303 and moved.headers["location"] == "/confirm-email"
    opened = await client.get(moved.headers["location"])  # opening the link spends nothing
    assert opened.status_code == 200 and opened.headers["referrer-policy"] == "no-referrer"
    assert (await Account.get(id=account.id)).email == account.email
    token = hidden(opened.text, "token")
    done = await client.post("/confirm-email", data={"csrf": hidden(opened.text, "csrf"), "token": token})
    assert done.status_code == 303 and done.headers["location"] == "/confirm-email?done=1"
    assert (await Account.get(id=account.id)).email == new
    again = await client.post("/confirm-email", data={"csrf": hidden(opened.text, "csrf"), "token": token})
    assert again.status_code == 400 and "уже использована" in again.text

    page = await client.get(cancel, follow_redirects=True)
    assert page.url.path == "/cancel-email-change" and "token=" not in str(page.url)
    undone = await client.post(
        "/cancel-email-change", data={"csrf": hidden(page.text, "csrf"), "token": hidden(page.text, "token")}
    )
    assert undone.headers["location"] == "/cancel-email-change?done=1"
    assert (await Account.get(id=account.id)).email == account.email
    assert (await client.get("/account")).status_code == 303  # this browser's session ended too


async def test_two_factor_pages_then_the_second_step_of_login(client, clock, make_account, app):
    import pyotp

    account = await make_account()
    await page_sign_in(client, account.email)
    assert "выключена" in (await client.get("/account")).text
    page = await client.get("/account/two-factor")
    started = await client.post("/account/two-factor/start", data={"csrf": hidden(page.text, "csrf")})
    assert started.status_code == 200 and started.headers["referrer-policy"] == "no-referrer"
    assert '<svg role="img" aria-label="QR-код' in started.text
    secret = re.search(r'<code id="totp-secret" class="secret">([A-Z2-7]+)</code>', started.text).group(1)
    csrf = hidden(started.text, "csrf")
    wrong = await client.post("/account/two-factor/confirm", data={"csrf": csrf, "code": "12345"})
    assert wrong.status_code == 400 and secret in wrong.text  # the QR code and key again, with the error
    done = await client.post("/account/two-factor/confirm", data={"csrf": csrf, "code": pyotp.TOTP(secret).at(clock.now())})
    codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", done.text)
    assert len(codes) == 10

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(new_address(), 1)),
                                 base_url=PUBLIC_URL) as other:
        step = await page_sign_in(other, account.email)
        assert step.status_code == 200 and 'action="/login/second-factor"' in step.text
        assert re.search(r'name="code"[^>]+autocomplete="one-time-code"', step.text)
        form = {"csrf": hidden(step.text, "csrf"), "challenge": hidden(step.text, "challenge"),
                "next": "/account", "methods": hidden(step.text, "methods")}
        bad = await other.post("/login/second-factor", data={**form, "code": "000000"})
        assert bad.status_code == 401 and "Код не подошёл." in bad.text
        ok = await other.post("/login/second-factor", data={**form, "code": codes[0]})
        assert ok.status_code == 303 and ok.headers["location"] == "/account"
        assert "включена" in (await other.get("/account")).text

    clock.advance(601)
    stale = await client.get("/account/two-factor")
    assert stale.headers["location"] == "/account/reauth?next=%2Faccount%2Ftwo-factor"
    reauth = await client.get(stale.headers["location"])
    assert 'name="code"' in reauth.text
    back = await client.post("/account/reauth", data={"csrf": hidden(reauth.text, "csrf"), "next": "/account/two-factor",
                                                      "code": pyotp.TOTP(secret).at(clock.now())})
    assert back.headers["location"] == "/account/two-factor"
    page = await client.get("/account/two-factor")
    off = await client.post("/account/two-factor/disable", data={"csrf": hidden(page.text, "csrf")})
    assert off.headers["location"] == "/account?notice=totp-off"


async def test_a_sign_in_from_a_new_browser_is_told_by_letter(app, rt, smtp_sink, make_account):
    account = await make_account()

    def browser() -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(new_address(), 40000))
        return httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL,
                                 headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/150.0"})

    async with browser() as first, browser() as second:
        await page_sign_in(first, account.email)  # the account's first browser: where it began, no letter
        assert first.cookies.get("portal_browser")
        page = await first.get("/account")
        await first.post("/session/logout", data={"csrf": hidden(page.text, "csrf")})
        await page_sign_in(first, account.email)  # the same browser again: no letter
        await drain(rt)
        assert smtp_sink.to(account.email) == []
        await page_sign_in(second, account.email)  # another browser: a letter
        await drain(rt)
        letters = await smtp_sink.wait_for(account.email)
        assert len(letters) == 1 and "Вход с нового устройства" in letters[0].subject
        assert "Chrome/150.0" in letters[0].text and second.cookies.get("portal_browser") not in letters[0].text
