"""Issue 15 over HTTP (the same journeys run in Chromium in tests/test_browser_partners.py): re-authentication
by the server's record, `auth_time`, POST to the authorization endpoint, forms from no-referrer pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from portal.core.tokens import new_token
from portal.models.accounts import Session
from tests.helpers import (
    PUBLIC_URL,
    REDIRECT,
    auth_params,
    csrf_of,
    exchange,
    get_code,
    hidden,
    page_sign_in,
    partner,
    query_of,
)

OWN_PAGE = {"origin": "null", "sec-fetch-site": "same-origin"}  # a form on a Referrer-Policy: no-referrer page


async def authorize(client: httpx.AsyncClient, params: dict[str, str]) -> httpx.Response:
    return await client.get("/oauth/authorize", params=params)


async def reauthenticate(client: httpx.AsyncClient, login_url: str, email: str) -> httpx.Response:
    """The sign-in page the authorization sent us to: it asks for the password even though we have a session."""
    page = await client.get(login_url)
    assert page.status_code == 200, page.headers.get("location")
    assert "Подтвердите, что это вы" in page.text and f'value="{email}"' in page.text
    form = {"csrf": hidden(page.text, "csrf"), "next": hidden(page.text, "next"), "identifier": email,
            "password": "correct horse battery staple"}
    return await client.post("/login", data=form)


def id_token_claims(tokens: dict[str, Any], keys: dict[str, Any]) -> dict[str, Any]:
    return jwt.decode(tokens["id_token"], KeySet.import_key_set(keys), algorithms=["RS256"]).claims


@pytest.mark.parametrize("demand", [{"prompt": "login"}, {"max_age": "0"}])
async def test_prompt_login_and_max_age_ask_for_the_password_then_resume(client, make_account, rt, clock, demand):
    account = await make_account()
    await page_sign_in(client, account.email)
    client_id, secret = await partner(rt, first_party=True)
    clock.advance(5)
    verifier = new_token()
    params = auth_params(client_id, verifier, **demand)
    sent = await authorize(client, params)
    assert sent.status_code == 302 and sent.headers["location"].startswith("/login?next=")
    assert "reauth=1" in sent.headers["location"]

    # Anything the partner (or the resident) adds to the request cannot skip it (defect 6).
    for skip in ({"login_after": "0"}, {"login_after": "99999999999"}, {"resume": "0" * 64}):
        tried = await authorize(client, {**params, **skip})
        assert tried.headers["location"].startswith("/login?"), skip

    back = await reauthenticate(client, sent.headers["location"], account.email)
    assert back.status_code == 303 and back.headers["location"].startswith("/oauth/authorize?")
    done = await client.get(back.headers["location"])  # resumed, no loop (defect 2)
    assert done.status_code == 302, done.headers["location"]
    answer = query_of(done)
    assert done.headers["location"].startswith(REDIRECT + "?") and answer["state"] == params["state"]
    assert "resume" not in answer

    tokens = (await exchange(client, client_id, secret, answer["code"], verifier)).json()
    claims = id_token_claims(tokens, (await client.get("/oauth/jwks")).json())
    session = await Session.filter(account_id=account.id, revoked_at__isnull=True).get()
    assert session.authenticated_at is not None
    assert claims["auth_time"] == int(session.authenticated_at.timestamp())  # exact: the server's record
    # The old session ended with the new sign-in; the resume mark is worth nothing to a later request.
    assert await Session.filter(account_id=account.id).count() == 2
    again = await authorize(client, {**params, "state": new_token(), "resume": urlsplit(back.headers["location"])
                                     .query.rsplit("resume=", 1)[1]})
    assert again.headers["location"].startswith("/login?")


async def test_max_age_counts_from_the_last_proof(client, make_account, rt, clock):
    account = await make_account()
    await page_sign_in(client, account.email)
    client_id, _ = await partner(rt, first_party=True)
    clock.advance(rt.settings.access_token_ttl * 2)  # well past the old 15-minute cookie: the session is still seen
    fresh_enough = await authorize(client, auth_params(client_id, new_token(), max_age="3600"))
    assert fresh_enough.headers["location"].startswith(REDIRECT + "?")
    stale = await authorize(client, auth_params(client_id, new_token(), max_age="60"))
    assert stale.headers["location"].startswith("/login?")
    none = await authorize(client, auth_params(client_id, new_token(), max_age="60", prompt="none"))
    assert query_of(none)["error"] == "login_required"
    bad = await authorize(client, auth_params(client_id, new_token(), max_age="-1"))
    assert query_of(bad)["error"] == "invalid_request"


async def test_a_signed_in_visitor_of_the_login_page_is_asked_again_only_when_the_server_wants_it(client, make_account):
    account = await make_account()
    await page_sign_in(client, account.email)
    plain = await client.get("/login", params={"next": "/account"})
    assert plain.status_code == 303
    asked = await client.get("/login", params={"next": "/account", "reauth": "1"})
    assert asked.status_code == 200 and "Подтвердите, что это вы" in asked.text


async def test_authorization_request_by_post_is_treated_like_get(client, make_account, rt):
    """OIDC Core 3.1.2.1: a partner's page may POST the request (a cross-site form: no Lax cookie comes)."""
    account = await make_account()
    client_id, _ = await partner(rt, first_party=True)
    params = auth_params(client_id, new_token())
    cross_site = {"origin": "https://partner.example.com", "sec-fetch-site": "cross-site"}
    posted = await client.post("/oauth/authorize", data=params, headers=cross_site)
    assert posted.status_code == 303 and posted.headers["location"].startswith("/login?next=%2Foauth%2Fauthorize")
    back = await page_sign_in(client, account.email, next=parse_qs(urlsplit(posted.headers["location"]).query)["next"][0])
    done = await client.get(back.headers["location"])
    assert query_of(done)["state"] == params["state"] and "code" in query_of(done)
    # With a session (a same-site POST carries the cookie): the code at once, as for GET.
    again = await client.post("/oauth/authorize", data={**params, "state": "s2"})
    assert again.status_code == 303 and query_of(again)["state"] == "s2" and "code" in query_of(again)
    unknown = await client.post("/oauth/authorize", data={**params, "redirect_uri": "https://evil.example/cb"})
    assert unknown.status_code == 400 and "location" not in unknown.headers


async def test_consent_and_logout_forms_from_no_referrer_pages(client, make_account, rt):
    """Defect 1: Chrome posts `Origin: null` from these pages; `Sec-Fetch-Site: same-origin` says they are ours.
    A truly cross-site post is still refused; the logout confirmation works once."""
    account = await make_account()
    await page_sign_in(client, account.email)
    client_id, _ = await partner(rt)
    page = await authorize(client, auth_params(client_id, new_token()))
    assert page.status_code == 200 and page.headers["referrer-policy"] == "no-referrer"
    form = {"request": hidden(page.text, "request"), "csrf": hidden(page.text, "csrf"), "decision": "allow"}
    for evil in ({"origin": "https://evil.example", "sec-fetch-site": "cross-site"}, {"origin": "null"},
                 {"origin": "https://evil.example"}):
        refused = await client.post("/oauth/authorize", data=form, headers=evil)
        assert refused.status_code == 403 and "location" not in refused.headers, evil
    allowed = await client.post("/oauth/authorize", data=form, headers=OWN_PAGE)
    assert allowed.status_code == 303 and "code" in query_of(allowed)

    confirm = await client.get("/oauth/logout")
    assert confirm.status_code == 200
    logout_form = {"request": hidden(confirm.text, "request"), "csrf": hidden(confirm.text, "csrf")}
    cross = await client.post("/oauth/logout", data=logout_form, headers={"sec-fetch-site": "cross-site"})
    assert cross.status_code == 200 and 'name="csrf"' in cross.text  # only asked again, nothing ended
    assert (await client.get("/account")).status_code == 200
    done = await client.post("/oauth/logout", data=logout_form, headers=OWN_PAGE)
    assert done.status_code == 200 and 'name="csrf"' not in done.text  # signed out, not asked again
    assert (await client.get("/account")).status_code == 303


async def test_every_portal_form_accepts_its_own_no_referrer_post(client, make_account):
    """Every page form: a post with `Origin: null` + `Sec-Fetch-Site: same-origin` is ours; cross-site is not."""
    account = await make_account()
    token = await csrf_of(client, "/login")
    data = {"csrf": token, "identifier": account.email, "password": "correct horse battery staple"}
    refused = await client.post("/login", data=data, headers={"sec-fetch-site": "cross-site", "origin": "null"})
    assert refused.status_code == 403
    signed_in = await client.post("/login", data=data, headers=OWN_PAGE)
    assert signed_in.status_code == 303
    token = hidden((await client.get("/account")).text, "csrf")
    for path, fields in (
        ("/forgot-password", {"identifier": account.email}),
        ("/reset-password", {"token": "not-a-real-token", "password": "x", "password_confirmation": "x"}),
        ("/support", {"full_name": ""}),
        ("/login/federated", {"provider": "nobody", "next": "/account"}),
        ("/account/identities/unlink", {"provider": "nobody"}),
        ("/account/sessions/end-others", {}),
        ("/session/logout", {}),
    ):
        cross = await client.post(path, data={"csrf": token, **fields}, headers={"sec-fetch-site": "cross-site"})
        own = await client.post(path, data={"csrf": token, **fields}, headers=OWN_PAGE)
        assert own.status_code in (200, 303, 400), (path, own.status_code)
        if path == "/login/federated":  # refused: the page again; accepted: the provider named as unknown
            assert "problem=" not in cross.headers["location"] and "problem=UNKNOWN" in own.headers["location"]
        elif path == "/account/identities/unlink":  # refused: "the form expired"; accepted: "not linked"
            assert cross.headers["location"].endswith("problem=EXPIRED") and own.headers["location"].endswith(
                "problem=NOT_LINKED")
        else:
            assert cross.status_code == 403, (path, cross.status_code)


# ---- scopes, offline_access, introspection ------------------------------------------------------------------


async def code_and_tokens(client, rt, client_id, secret, **extra: str) -> tuple[dict[str, str], dict[str, Any]]:
    verifier = new_token()
    answer = await get_code(client, auth_params(client_id, verifier, **extra))
    response = await exchange(client, client_id, secret, answer["code"], verifier)
    assert response.status_code == 200, response.text
    return answer, response.json()


async def test_scopes_unknown_ignored_offline_access_decides_refresh_tokens(client, make_account, rt):
    metadata = (await client.get("/.well-known/openid-configuration")).json()
    assert set(metadata["scopes_supported"]) == {"openid", "profile", "email", "phone", "offline_access"}
    assert metadata["introspection_endpoint"] == PUBLIC_URL + "/oauth/introspect"
    await make_account_signed_in(client, make_account)
    client_id, secret = await partner(rt)

    page = await authorize(client, auth_params(client_id, new_token(), scope="openid email offline_access x-unknown"))
    assert page.status_code == 200
    assert "пока вы не в сети" in page.text and "oidc.scope" not in page.text  # only the known scopes listed
    _, tokens = await code_and_tokens(client, rt, client_id, secret, scope="openid email offline_access x-unknown")
    assert tokens["scope"] == "openid email offline_access" and "refresh_token" in tokens

    # A third party that did not ask for offline_access gets no refresh token (it must come back through us).
    _, online = await code_and_tokens(client, rt, client_id, secret, scope="openid email")
    assert "refresh_token" not in online and online["scope"] == "openid email"
    # The operator's own (first-party) clients always get one.
    own_id, own_secret = await partner(rt, first_party=True)
    _, own = await code_and_tokens(client, rt, own_id, own_secret, scope="openid profile")
    assert "refresh_token" in own


async def make_account_signed_in(client: httpx.AsyncClient, make_account: Any) -> Any:
    account = await make_account()
    await page_sign_in(client, account.email)
    return account


async def test_introspection_for_the_partner_that_holds_the_token(client, make_account, rt):
    account = await make_account_signed_in(client, make_account)
    client_id, secret = await partner(rt, first_party=True)
    other_id, other_secret = await partner(rt, first_party=True)
    public_id, _ = await partner(rt, first_party=True, public=True)
    _, tokens = await code_and_tokens(client, rt, client_id, secret)
    claims = id_token_claims(tokens, (await client.get("/oauth/jwks")).json())

    async def introspect(token: str, auth: Any = None, **form: str) -> httpx.Response:
        return await client.post("/oauth/introspect", data={"token": token, **form}, auth=auth)

    live = (await introspect(tokens["access_token"], (client_id, secret))).json()
    assert live["active"] is True and live["client_id"] == client_id and live["sub"] == claims["sub"]
    assert live["scope"] == tokens["scope"] and live["iss"] == PUBLIC_URL and live["exp"] > live["iat"]
    assert live["sub"] != str(account.id)
    refresh = (await introspect(tokens["refresh_token"], (client_id, secret))).json()
    assert refresh["active"] is True and refresh["token_type"] == "refresh_token"
    # Another partner learns nothing about it; nor does a stranger or a public client.
    assert (await introspect(tokens["access_token"], (other_id, other_secret))).json() == {"active": False}
    assert (await introspect(tokens["access_token"])).status_code == 401
    assert (await introspect(tokens["access_token"], (client_id, "wrong"))).status_code == 401
    assert (await introspect(tokens["access_token"], client_id=public_id)).status_code == 401
    assert (await introspect("x" * 500, (client_id, secret))).json() == {"active": False}
    # Revoked: inactive at once.
    await client.post("/oauth/revoke", data={"token": tokens["refresh_token"]}, auth=(client_id, secret))
    assert (await introspect(tokens["access_token"], (client_id, secret))).json() == {"active": False}
    assert (await introspect(tokens["refresh_token"], (client_id, secret))).json() == {"active": False}


# ---- CORS for browser-based (SPA) partners ------------------------------------------------------------------

SPA = "http://localhost:5173"


async def test_cors_for_a_public_clients_origins_only_and_never_with_credentials(client, make_account, rt):
    spa_id, _ = await partner(rt, public=True, redirect_uris=[SPA + "/callback"],
                              allowed_origins=["https://spa-cdn.example.com"])
    confidential_id, _ = await partner(rt, redirect_uris=["https://server.example.org/cb"])
    endpoints = [("/.well-known/openid-configuration", "GET"), ("/oauth/jwks", "GET"), ("/oauth/token", "POST"),
                 ("/oauth/userinfo", "GET"), ("/oauth/userinfo", "POST"), ("/oauth/revoke", "POST")]
    for origin in (SPA, "https://spa-cdn.example.com"):
        for path, method in endpoints:
            pre = await client.options(path, headers={"Origin": origin, "Access-Control-Request-Method": method,
                                                      "Access-Control-Request-Headers": "authorization"})
            assert pre.status_code == 204, (path, method, pre.status_code)
            assert pre.headers["access-control-allow-origin"] == origin
            assert method in pre.headers["access-control-allow-methods"]
            assert "authorization" in pre.headers["access-control-allow-headers"].lower()
            assert "access-control-allow-credentials" not in pre.headers
        answer = await client.get("/oauth/userinfo", headers={"Origin": origin})
        assert answer.status_code == 401 and answer.headers["access-control-allow-origin"] == origin
        assert "WWW-Authenticate" in answer.headers["access-control-expose-headers"]
        assert "access-control-allow-credentials" not in answer.headers
    for stranger in ("https://server.example.org", "https://evil.example", "null"):
        pre = await client.options("/oauth/token", headers={"Origin": stranger, "Access-Control-Request-Method": "POST"})
        assert pre.status_code == 403 and "access-control-allow-origin" not in pre.headers
        answer = await client.get("/oauth/jwks", headers={"Origin": stranger})
        assert "access-control-allow-origin" not in answer.headers
    # Never /graphql, never the authorization or introspection endpoints.
    for path in ("/graphql", "/oauth/introspect", "/oauth/authorize"):
        pre = await client.options(path, headers={"Origin": SPA, "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in pre.headers, path
    assert spa_id and confidential_id


async def test_allowed_origin_is_for_public_clients_and_must_be_an_origin(rt):
    from portal.identity.provider.partners import ClientProblem, add_client

    for bad in ("https://spa.example.com/app", "ftp://spa.example.com", "http://spa.example.com"):
        with pytest.raises(ClientProblem):
            await add_client(rt, name="SPA", redirect_uris=[SPA + "/cb"], public=True, allowed_origins=[bad])
    with pytest.raises(ClientProblem):
        await add_client(rt, name="Server", redirect_uris=["https://s.example.com/cb"],
                         allowed_origins=["https://s.example.com"])


async def test_portal_cors_origins_open_graphql_only_never_the_provider(data_dir, database_url, clock, smtp_sink,
                                                                       database):
    """PORTAL_CORS_ORIGINS (credentialed, for the operator's own web clients) no longer spills onto /oauth/*."""
    from portal.core.runtime import Runtime
    from tests.helpers import Surface, make_settings

    app_origin = "https://app.example.ru"
    s = Surface(Runtime(make_settings(data_dir, database_url, smtp_sink.port, cors_origins=app_origin), clock))
    async with s.client() as c:
        graphql = await c.options("/graphql", headers={"Origin": app_origin, "Access-Control-Request-Method": "POST"})
        assert graphql.headers["access-control-allow-origin"] == app_origin
        assert graphql.headers["access-control-allow-credentials"] == "true"
        for path in ("/oauth/token", "/oauth/userinfo", "/oauth/revoke"):
            pre = await c.options(path, headers={"Origin": app_origin, "Access-Control-Request-Method": "POST"})
            assert "access-control-allow-origin" not in pre.headers, path
            assert "access-control-allow-credentials" not in pre.headers, path


def test_cli_registers_an_spa_with_an_allowed_origin(settings):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.helpers import settings_env

    portal = str(Path(sys.executable).parent / "portal")
    env = {**os.environ, **settings_env(settings)}
    done = subprocess.run([portal, "oidc-clients", "add", "--name", "SPA", "--public", "--redirect-uri",
                           SPA + "/callback", "--allowed-origin", "https://cdn.example.com"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("client_id=") and "client_secret" not in done.stdout
    refused = subprocess.run([portal, "oidc-clients", "add", "--name", "Server", "--redirect-uri",
                              "https://s.example.com/cb", "--allowed-origin", "https://s.example.com"],
                             env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "--allowed-origin" in refused.stderr
