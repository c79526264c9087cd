"""docs/security.md #51: no secret in any log line, ours or a library's.

A real `portal serve` (its stdout and stderr captured whole) runs the journeys of the live-server tests
over HTTP: sign-in by GraphQL and by the form, client mistakes in a `login` document (a misspelt type,
a variable of the wrong type), a reset request, the mailed link and the reset, a ticket and its status
link, a partner's authorization code flow and its logout with `id_token_hint`. Then every secret those
journeys handled is looked for in the log, as typed and URL-encoded.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

import httpx
import pytest

from portal.core.tokens import new_token
from tests.helpers import (
    LOGIN,
    PASSWORD,
    PUBLIC_URL,
    SUBMIT,
    LiveServer,
    auth_params,
    exchange,
    form,
    get_code,
    mailing_env,
    partner,
    start_live_server,
    stop_live_server,
    unique,
)

RESET_LINK = re.compile(r"https?://[^\s/]+/reset-password\?token=[A-Za-z0-9_.~-]+")
STATUS_LINK = re.compile(r"https?://[^\s/]+/support/status\?\S+")
NEW_PASSWORD = "a brand new passphrase for the log test"
WRONG_PASSWORD = "a wrong passphrase that must not be logged"


@pytest.fixture(scope="module")
async def live(settings: Any, smtp_sink: Any, database: None, tmp_path_factory: Any) -> AsyncIterator[LiveServer]:
    server = start_live_server(mailing_env(settings, smtp_sink.port), tmp_path_factory.mktemp("log-secrets"))
    yield server
    stop_live_server(server)


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, page[:2000]
    return html.unescape(match.group(1))


def local(live: LiveServer, link: str) -> str:
    parts = urlsplit(link)
    return live.url + parts.path + ("?" + parts.query if parts.query else "")


async def post_page_form(c: httpx.AsyncClient, url: str, fields: dict[str, str]) -> httpx.Response:
    """Opens a page (following its redirects), then posts its form with the CSRF token (and the token
    field, where the page still carries one) plus `fields`."""
    page = await c.get(url, follow_redirects=True)
    assert page.status_code == 200, page.text[:500]
    data = {"csrf": hidden(page.text, "csrf"), **fields}
    if 'name="token"' in page.text:
        data["token"] = hidden(page.text, "token")
    return await c.post(urlsplit(str(page.url)).path, data=data)


async def test_no_secret_of_any_journey_reaches_the_log(live, make_account, smtp_sink, rt):
    secrets: dict[str, str] = {"password": PASSWORD, "wrong password": WRONG_PASSWORD, "new password": NEW_PASSWORD}
    account = await make_account(login=unique("logtest"), phone=None)
    async with httpx.AsyncClient(base_url=live.url) as c:
        # Sign-in over GraphQL: a wrong password, then the right one (tokens and cookies are secrets).
        for password in (WRONG_PASSWORD, PASSWORD):
            answer = await c.post(
                "/graphql", json={"query": LOGIN, "variables": {"identifier": account.email, "password": password}}
            )
        session = answer.json()["data"]["login"]["session"]
        secrets |= {"access token": session["accessToken"], "refresh token": session["refreshToken"]}
        secrets |= {f"cookie {name}": value for name, value in c.cookies.items()}

        # Client mistakes in a login document, the password written into the document or a variable.
        mistakes = [
            {"query": f'mutation {{ login(identifier: "{account.email}", pasword: "{PASSWORD}") {{ __typename }} }}'},
            {
                "query": f'mutation {{ login(identifier: "{account.email}", password: "{PASSWORD}") {{ ... on LoginSucess {{ session {{ accessToken }} }} }} }}'
            },
            {
                "query": 'mutation($p: Int!) { login(identifier: "x", password: $p) { __typename } }',
                "variables": {"p": PASSWORD},
            },
            {"query": LOGIN, "variables": {"identifier": account.email, "password": {"nested": PASSWORD}}},
            {"query": 'mutation { login(identifier: "x", password: "' + PASSWORD + '" { __typename } }'},
        ]
        for body in mistakes:
            response = await c.post("/graphql", json=body)
            assert response.status_code in (200, 400), response.text

    # The sign-in form, in a browser-like client of its own.
    async with httpx.AsyncClient(base_url=live.url) as browser:
        done = await post_page_form(browser, "/login", {"identifier": account.login, "password": PASSWORD})
        assert done.status_code == 303, done.text[:500]
        secrets |= {f"page cookie {name}": value for name, value in browser.cookies.items()}

        # A reset: request, the mailed link, the new password.
        sent = await post_page_form(browser, "/forgot-password", {"identifier": account.email})
        assert sent.status_code == 303
        letters = await smtp_sink.wait_for(account.email, timeout=20)
        link = RESET_LINK.search(letters[-1].text)
        assert link, letters[-1].text
        secrets["reset token"] = link.group(0).rsplit("=", 1)[1]
        reset = await post_page_form(
            browser, local(live, link.group(0)), {"newPassword": NEW_PASSWORD, "newPasswordConfirmation": NEW_PASSWORD}
        )
        assert reset.status_code == 303 and reset.headers["location"].endswith("done=1"), reset.text[:500]

    # A ticket over GraphQL, then its status link (the access key).
    async with httpx.AsyncClient(base_url=live.url) as anon:
        ticket = (await anon.post("/graphql", json={"query": SUBMIT, "variables": {"input": form()}})).json()
        submitted = ticket["data"]["submitSupportTicket"]
        secrets["ticket access key"] = submitted["accessKey"]
        number = submitted["ticket"]["number"]
        status = await anon.get(
            "/support/status", params={"number": number, "key": submitted["accessKey"]}, follow_redirects=True
        )
        assert status.status_code == 200 and number in status.text

    # A partner's code flow and the logout with id_token_hint.
    after = "https://partner.example.com/signed-out"
    client_id, client_secret = await partner(rt, first_party=True, post_logout_redirect_uris=[after])
    assert client_secret
    secrets["client secret"] = client_secret
    async with httpx.AsyncClient(base_url=live.url) as oidc:
        answer = await oidc.post(  # as the portal's own page would: only then the browser session cookie is set
            "/graphql", json={"query": LOGIN, "variables": {"identifier": account.email, "password": NEW_PASSWORD}},
            headers={"Origin": PUBLIC_URL, "Sec-Fetch-Site": "same-origin"},
        )
        assert answer.json()["data"]["login"]["__typename"] == "LoginSuccess"
        secrets |= {f"partner flow cookie {name}": value for name, value in oidc.cookies.items()}
        verifier = new_token()
        params = auth_params(client_id, verifier)
        secrets |= {"state": params["state"], "nonce": params["nonce"], "code verifier": verifier}
        code = (await get_code(oidc, params))["code"]
        secrets["authorization code"] = code
        tokens = (await exchange(oidc, client_id, client_secret, code, verifier)).json()
        secrets |= {"id token": tokens["id_token"], "partner access token": tokens["access_token"]}
        if tokens.get("refresh_token"):
            secrets["partner refresh token"] = tokens["refresh_token"]
        out = await oidc.get(
            "/oauth/logout",
            params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": after, "state": "s1"},
        )
        assert out.status_code == 302, out.text[:500]

    stop_live_server(live)  # flush everything the process wrote
    log = live.log.read_text(encoding="utf-8", errors="replace")
    assert '"POST /graphql HTTP/1.1" 200' in log and "/reset-password?token=[redacted]" in log  # our access log ran
    assert "/oauth/logout?id_token_hint=[redacted]" in log
    leaked = [
        name
        for name, secret in secrets.items()
        if any(form_ in log for form_ in {secret, quote(secret, safe=""), quote_plus(secret), secret[:24]})
    ]
    assert leaked == [], f"secrets in the server log: {leaked}"
    assert " ERROR " not in log, log[-3000:]
