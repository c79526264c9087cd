"""The /account security pages through the ASGI app (issue 16): forms, re-authentication and return, links."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from portal.models.accounts import Account
from tests.conftest import PASSWORD, PUBLIC_URL, unique
from tests.mail_helpers import drain, new_address
from tests.test_pages import hidden, page_sign_in

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
    from portal.identity.sessions import issue_session

    issued = await issue_session(rt, account, ClientInfo(), "fed")
    client.cookies.set("portal_session", issued.access_token, domain="127.0.0.1")
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

    opened = await client.get(confirm)  # opening the link spends nothing
    assert opened.status_code == 200 and opened.headers["referrer-policy"] == "no-referrer"
    assert (await Account.get(id=account.id)).email == account.email
    token = hidden(opened.text, "token")
    done = await client.post("/confirm-email", data={"csrf": hidden(opened.text, "csrf"), "token": token})
    assert done.status_code == 303 and done.headers["location"] == "/confirm-email?done=1"
    assert (await Account.get(id=account.id)).email == new
    again = await client.post("/confirm-email", data={"csrf": hidden(opened.text, "csrf"), "token": token})
    assert again.status_code == 400 and "уже использована" in again.text

    page = await client.get(cancel)
    undone = await client.post(
        "/cancel-email-change", data={"csrf": hidden(page.text, "csrf"), "token": hidden(page.text, "token")}
    )
    assert undone.headers["location"] == "/cancel-email-change?done=1"
    assert (await Account.get(id=account.id)).email == account.email
    assert (await client.get("/account")).status_code == 303  # this browser's session ended too
