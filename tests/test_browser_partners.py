"""Partner sign-on in real Chromium (issue 15): consent, re-authentication, logout, a browser-only partner (SPA).

The portal runs in-process under uvicorn on 127.0.0.1 with the tests' movable clock (so "after the old access
lifetime" is a clock move, not a wait); a partner's pages run on `localhost`, another site. The SPA is
tests/spa/ with oidc-client-ts from npm (tests/node/node_modules), as a partner would write it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from portal.core.runtime import Runtime
from portal.core.tokens import new_token
from tests.helpers import (
    PASSWORD,
    PHONE,
    ROOT,
    free_port,
    make_settings,
    need_chromium,
    need_service,
    s256,
)

SPA_DIR = ROOT / "tests" / "spa"
OIDC_CLIENT_TS = ROOT / "tests" / "node" / "node_modules" / "oidc-client-ts" / "dist" / "browser" / "oidc-client-ts.min.js"


@dataclass
class Sites:
    portal: str  # http://127.0.0.1:P, the issuer
    partner: str  # http://localhost:Q, another site
    rt: Runtime


async def _serve(app: Any, port: int) -> tuple[Any, asyncio.Task[None]]:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # the test runner keeps its own
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            return server, task
        await asyncio.sleep(0.05)
    raise RuntimeError("uvicorn did not start")


def _partner_app() -> Any:
    """The partner's site: the SPA's files, oidc-client-ts's browser build, and a callback that shows its query."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import FileResponse, HTMLResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    async def callback(request: Request) -> HTMLResponse:
        items = "".join(f"<li id='{k}'>{v}</li>" for k, v in request.query_params.items())
        return HTMLResponse(f"<!doctype html><title>partner callback</title><ul>{items}</ul>")

    async def library(_: Request) -> FileResponse:
        return FileResponse(OIDC_CLIENT_TS, media_type="text/javascript")

    async def spa_page(_: Request) -> FileResponse:  # the SPA's one page, at its callback paths too
        return FileResponse(SPA_DIR / "index.html", media_type="text/html")

    return Starlette(routes=[
        Route("/cb", callback),
        Route("/bye", callback),
        Route("/callback.html", spa_page),
        Route("/bye.html", spa_page),
        Route("/oidc-client-ts.min.js", library),
        Mount("/", StaticFiles(directory=SPA_DIR, html=True)),
    ])


@pytest.fixture(scope="module")
async def sites(data_dir, database_url, smtp_sink, clock, database) -> AsyncIterator[Sites]:  # type: ignore[no-untyped-def]
    need_chromium()
    need_service(OIDC_CLIENT_TS.exists(), "tests/node/node_modules (npm ci in tests/node) is needed for the SPA")
    from portal.api.app import create_app

    portal_port, partner_port = free_port(), free_port()
    portal = f"http://127.0.0.1:{portal_port}"
    rt = Runtime(make_settings(data_dir, database_url, smtp_sink.port, public_url=portal), clock)
    servers = [await _serve(create_app(runtime=rt, manage_database=False), portal_port),
               await _serve(_partner_app(), partner_port)]
    yield Sites(portal, f"http://localhost:{partner_port}", rt)
    for server, task in servers:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    """A fresh profile; any script error or failed subresource fails the test."""
    context = await browser.new_context(viewport=PHONE, locale="ru-RU")
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on(  # a subresource cut short by the page navigating away (ERR_ABORTED) is not a failure
        "requestfailed",
        lambda r: problems.append(f"failed {r.url}: {r.failure}")
        if r.resource_type != "document" and "ERR_ABORTED" not in (r.failure or "")
        else None,
    )
    yield page
    await context.close()
    assert problems == [], problems


async def sign_in_on_page(page: Any, email: str) -> None:
    """The portal's own sign-in page, as the resident fills it (identifier prefilled on re-authentication)."""
    await page.locator('input[name="identifier"]').fill(email)
    await page.locator('input[name="password"]').fill(PASSWORD)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Войти", exact=True).click()


def authorization_url(sites: Sites, client_id: str, verifier: str, **extra: str) -> tuple[str, dict[str, str]]:
    params = dict(response_type="code", client_id=client_id, redirect_uri=sites.partner + "/cb",
                  scope="openid profile email offline_access", state=new_token(), nonce=new_token(),
                  code_challenge=s256(verifier), code_challenge_method="S256", **extra)
    return sites.portal + "/oauth/authorize?" + urlencode(params), params


def callback_query(page: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


async def exchange(sites: Sites, client_id: str, secret: str, code: str, verifier: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=sites.portal) as http:
        response = await http.post("/oauth/token", auth=(client_id, secret), data=dict(
            grant_type="authorization_code", code=code, redirect_uri=sites.partner + "/cb", code_verifier=verifier))
    assert response.status_code == 200, response.text
    return response.json()


async def register(sites: Sites, **kwargs: Any) -> tuple[str, str | None]:
    from portal.identity.provider.partners import add_client

    values: dict[str, Any] = dict(name="Сервис показаний счётчиков", redirect_uris=[sites.partner + "/cb"],
                                  post_logout_redirect_uris=[sites.partner + "/bye"])
    new = await add_client(sites.rt, **{**values, **kwargs})
    return new.client.id, new.secret


async def test_third_party_consent_allow_then_deny(sites, page, make_account):
    account = await make_account()
    client_id, secret = await register(sites)
    verifier = new_token()
    url, params = authorization_url(sites, client_id, verifier)
    await page.goto(url)
    await sign_in_on_page(page, account.email)
    assert "Разрешить доступ" in await page.title() or await page.get_by_role("button", name="Разрешить").count()
    assert "пока вы не в сети" in await page.content()  # offline_access, said plainly
    async with page.expect_navigation():
        await page.get_by_role("button", name="Разрешить").click()  # Origin: null, Sec-Fetch-Site: same-origin
    answer = callback_query(page)
    assert page.url.startswith(sites.partner + "/cb?") and answer["state"] == params["state"]
    assert answer["iss"] == sites.portal
    tokens = await exchange(sites, client_id, secret, answer["code"], verifier)
    assert "refresh_token" in tokens and "offline_access" in tokens["scope"].split()

    # Another partner, refused.
    other_id, _ = await register(sites, name="Другой сервис")
    url, params = authorization_url(sites, other_id, new_token())
    await page.goto(url)  # signed in already: straight to the consent page
    async with page.expect_navigation():
        await page.get_by_role("button", name="Отказать").click()
    answer = callback_query(page)
    assert answer["error"] == "access_denied" and answer["state"] == params["state"] and "code" not in answer


@pytest.mark.parametrize("demand", [{"prompt": "login"}, {"max_age": "0"}])
async def test_reauthentication_with_an_existing_session(sites, page, make_account, demand):
    account = await make_account()
    client_id, secret = await register(sites, first_party=True)
    await page.goto(sites.portal + "/login")
    await sign_in_on_page(page, account.email)
    assert urlsplit(page.url).path == "/account"

    verifier = new_token()
    url, params = authorization_url(sites, client_id, verifier, **demand)
    await page.goto(url + "&login_after=0")  # what the partner adds cannot skip it
    assert urlsplit(page.url).path == "/login"
    assert "Подтвердите, что это вы" in await page.content()
    assert await page.locator('input[name="identifier"]').input_value() == account.email
    await page.locator('input[name="password"]').fill(PASSWORD)
    async with page.expect_navigation(url=lambda u: u.startswith(sites.partner)):
        await page.get_by_role("button", name="Войти", exact=True).click()
    answer = callback_query(page)
    assert answer["state"] == params["state"] and "code" in answer  # resumed once, no loop
    tokens = await exchange(sites, client_id, secret, answer["code"], verifier)
    assert tokens["id_token"]


async def test_logout_after_the_old_access_lifetime_with_and_without_a_hint(sites, page, make_account, clock):
    account = await make_account()
    client_id, secret = await register(sites, first_party=True)
    verifier = new_token()
    url, _ = authorization_url(sites, client_id, verifier)
    await page.goto(url)
    await sign_in_on_page(page, account.email)
    tokens = await exchange(sites, client_id, secret, callback_query(page)["code"], verifier)

    clock.advance(sites.rt.settings.access_token_ttl + 120)  # the old 15-minute cookie would be gone (defect 3)
    hint = {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": sites.partner + "/bye", "state": "s1"}
    await page.goto(sites.portal + "/oauth/logout?" + urlencode(hint))
    assert page.url == sites.partner + "/bye?state=s1"
    await page.goto(sites.portal + "/account")
    assert urlsplit(page.url).path == "/login"  # the session really ended

    await sign_in_on_page(page, account.email)
    assert urlsplit(page.url).path == "/account"
    clock.advance(sites.rt.settings.access_token_ttl + 120)
    await page.goto(sites.portal + "/oauth/logout")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Выйти").click()  # the confirmation works once (defect 1)
    assert "Вы вышли из личного кабинета." in await page.content()
    assert await page.get_by_role("button", name="Выйти").count() == 0
    await page.goto(sites.portal + "/account")
    assert urlsplit(page.url).path == "/login"


async def test_a_single_page_app_on_another_origin_with_oidc_client_ts(sites, page, make_account):
    account = await make_account()
    spa_id, _ = await register(sites, public=True, name="Приложение в браузере",
                               redirect_uris=[sites.partner + "/callback.html"],
                               post_logout_redirect_uris=[sites.partner + "/bye.html"])
    await page.goto(sites.partner + "/")
    await page.evaluate("([a, c]) => spa.configure(a, c)", [sites.portal, spa_id])
    await page.goto(sites.partner + "/")
    async with page.expect_navigation(url=lambda u: u.startswith(sites.portal + "/login")):
        await page.evaluate("setTimeout(() => spa.signIn(), 0)")
    await sign_in_on_page(page, account.email)
    async with page.expect_navigation(url=lambda u: u.startswith(sites.partner + "/callback.html")):
        await page.get_by_role("button", name="Разрешить").click()
    await page.wait_for_function("document.getElementById('out').textContent.length > 0")
    result = await page.evaluate("JSON.parse(document.getElementById('out').textContent)")
    assert result["signedIn"] is True and result["email"] == account.email, result  # userinfo loaded over CORS

    first = await page.evaluate("spa.user()")
    assert first["refresh"] and "offline_access" in first["scope"].split()
    renewed = await page.evaluate("spa.refresh()")  # the refresh_token grant from the page
    assert renewed["refresh"] != first["refresh"] and renewed["access"] != first["access"]
    for method in ("GET", "POST"):
        info = await page.evaluate("(m) => spa.userinfo(m)", method)
        assert info["status"] == 200 and info["body"]["email"] == account.email, info

    await page.evaluate("spa.revoke()")
    async with httpx.AsyncClient(base_url=sites.portal) as http:
        dead = await http.post("/oauth/token", data={"grant_type": "refresh_token", "client_id": spa_id,
                                                     "refresh_token": renewed["refresh"]})
        assert dead.json()["error"] == "invalid_grant"
        assert (await http.get("/oauth/userinfo", headers={"Authorization": "Bearer " + renewed["access"]})
                ).status_code == 401

    async with page.expect_navigation(url=lambda u: u.startswith(sites.partner + "/bye.html")):
        await page.evaluate("setTimeout(() => spa.signOut(), 0)")  # RP-initiated logout with the id_token_hint the library kept
    await page.wait_for_function("document.getElementById('out').textContent.length > 0")
    await page.goto(sites.portal + "/account")
    assert urlsplit(page.url).path == "/login"  # the portal session ended too
