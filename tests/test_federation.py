"""Federated sign-in against a real OpenID Provider (oidc-provider on loopback), driven like a browser."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from portal.api.app import create_app
from portal.core.runtime import Runtime
from portal.core.settings import SettingsError
from portal.models.accounts import Account
from portal.models.audit import AuditEvent
from portal.models.federation import FederatedIdentity, LoginCode
from tests.federation_op import MISBEHAVING, Browser, account_login, start_provider, stop_provider
from tests.helpers import PASSWORD, PUBLIC_URL, make_settings, unique

APP_RETURN = "ru.example.app://callback"
WEB_CLIENT = "https://web.example.ru/"

START = """
mutation($p: String!, $r: String) { startFederatedSignIn(provider: $p, returnTo: $r) {
  __typename ... on FederatedSignInStarted { authorizationUrl }
  ... on ValidationError { fields { field code message } } } }
"""
EXCHANGE = """
mutation($c: String!) { exchangeLoginCode(code: $c) {
  __typename ... on LoginSuccess { session { accessToken account { id email hasPassword } } }
  ... on Error { message } } }
"""
ME = "{ me { id email emailVerified hasPassword fullName linkedIdentities { provider providerName email linkedAt } } }"
LOGIN = """
mutation($i: String!, $p: String!) { login(identifier: $i, password: $p) {
  __typename ... on LoginSuccess { session { accessToken } } } }
"""
UNLINK = """
mutation($p: String!) { unlinkIdentity(provider: $p) {
  __typename ... on IdentityUnlinked { provider } ... on ValidationError { fields { code } } } }
"""


@pytest.fixture(scope="module")
def op(tmp_path_factory: pytest.TempPathFactory) -> Any:
    provider = start_provider(tmp_path_factory.mktemp("op"))
    yield provider
    stop_provider(provider)


@pytest.fixture(scope="module")
async def fed_rt(op, data_dir, database_url, smtp_sink, clock, database) -> Runtime:
    settings = make_settings(
        data_dir,
        database_url,
        smtp_sink.port,
        oidc_providers=json.dumps(op.portal_config()),
        allowed_return_urls=f"{APP_RETURN},{WEB_CLIENT}",
    )
    return Runtime(settings, clock)


@pytest.fixture(scope="module")
async def fed_app(fed_rt) -> Any:
    return create_app(runtime=fed_rt, manage_database=False)


def bearer(token: str) -> dict[str, Any]:
    return {"headers": {"Authorization": f"Bearer {token}"}}


def session_cookie(response) -> str | None:  # type: ignore[no-untyped-def]
    return response.cookies.get("portal_session")


async def start(browser: Browser, provider: str = "city", return_to: str | None = None, **kwargs: Any) -> str:
    data = await browser.gql(START, {"p": provider, "r": return_to}, **kwargs)
    assert data["startFederatedSignIn"]["__typename"] == "FederatedSignInStarted", data
    return data["startFederatedSignIn"]["authorizationUrl"]


async def sign_in_through_provider(app, login: str, provider: str = "city", return_to: str | None = None):  # type: ignore[no-untyped-def]
    """A whole browser journey; returns (browser, callback response). The caller closes the browser."""
    browser = Browser(app)
    callback = await browser.authorize(await start(browser, provider, return_to), login)
    return browser, await browser.http.get(callback)


async def test_first_sign_in_creates_a_password_less_account_and_the_second_finds_it(fed_app, fed_rt):
    sub, email = unique("sub"), f"{unique('fed')}@example.ru"
    async with Browser(fed_app) as browser:
        url = await start(browser)
        query = parse_qs(urlsplit(url).query)
        assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
        assert query["nonce"][0] and query["state"][0] and query["response_type"] == ["code"]
        assert "portal_fed" in browser.http.cookies  # the binding cookie (plain on loopback http)
        login = account_login(sub, email.upper())  # normalised when stored
        response = await browser.http.get(await browser.authorize(url, login))
        assert response.status_code == 303, response.text
        assert response.headers["location"] == f"{PUBLIC_URL}/account"
        assert session_cookie(response)
        me = (await browser.gql(ME))["me"]
    assert me["email"] == email and me["emailVerified"] is True and me["hasPassword"] is False
    assert me["fullName"] == "Иван Петров"
    assert [(x["provider"], x["providerName"], x["email"]) for x in me["linkedIdentities"]] == [
        ("city", "Городской портал", email)
    ]
    identity = await FederatedIdentity.get(subject__startswith=sub + ";")
    assert identity.issuer == fed_rt.providers.get("city").issuer
    audit = await AuditEvent.filter(subject_id=identity.account_id, action="signin.success").first()
    assert audit is not None and audit.details["method"] == "fed"

    browser, again = await sign_in_through_provider(fed_app, login, return_to="/support")
    async with browser:
        assert again.status_code == 303 and again.headers["location"] == f"{PUBLIC_URL}/support"
        assert (await browser.gql(ME))["me"]["id"] == me["id"]
    assert await Account.filter(email=email).count() == 1


async def test_an_unverified_email_is_not_taken(fed_app):
    sub, email = unique("sub"), f"{unique('unverified')}@example.ru"
    browser, response = await sign_in_through_provider(fed_app, account_login(sub, email, verified=False))
    async with browser:
        assert response.status_code == 303
        me = (await browser.gql(ME))["me"]
    assert me["email"] is None and me["emailVerified"] is False
    assert not await Account.filter(email=email).exists()


async def test_state_missing_foreign_and_replayed_are_refused(fed_app):
    sub = unique("sub")
    async with Browser(fed_app) as a, Browser(fed_app) as b:
        callback = await a.authorize(await start(a), account_login(sub))
        await start(b)  # b has a flow (and a binding cookie) of its own

        no_state = callback.replace("state=", "x=")
        missing = await a.http.get(no_state)
        assert missing.status_code == 400 and not session_cookie(missing)
        assert "Ссылка входа недействительна" in missing.text

        foreign = await b.http.get(callback)
        assert foreign.status_code == 400 and not session_cookie(foreign)
        b.http.cookies.clear()
        assert (await b.http.get(callback)).status_code == 400  # no binding cookie at all

        ok = await a.http.get(callback)  # the foreign attempts did not spend it
        assert ok.status_code == 303 and session_cookie(ok)

        replay = await a.http.get(callback)
        assert replay.status_code == 400 and not session_cookie(replay)
        english = await a.http.get(callback, headers={"Accept-Language": "en"})
        assert "This sign-in link is invalid" in english.text and english.headers["referrer-policy"] == "no-referrer"


async def test_rfc9207_iss_in_the_callback_is_checked(fed_app, op):
    for tamper in (
        lambda url: url.replace("iss=", "iss=http%3A%2F%2Fevil.example&was="),
        lambda url: url.replace("iss=", "was="),  # the provider promises iss; its absence is a mix-up sign
    ):
        sub = unique("sub")
        async with Browser(fed_app) as browser:
            callback = await browser.authorize(await start(browser), account_login(sub))
            assert "iss=" in callback
            response = await browser.http.get(tamper(callback))
            assert response.status_code == 400 and not session_cookie(response)
        assert not await FederatedIdentity.filter(subject__startswith=sub + ";").exists()


@pytest.mark.parametrize("provider", sorted(MISBEHAVING))
async def test_a_bad_id_token_ends_on_an_error_page_without_a_session(fed_app, provider):
    """Expired, signed by another key, wrong nonce, wrong issuer, wrong audience: all refused."""
    sub = unique("sub")
    browser, response = await sign_in_through_provider(fed_app, account_login(sub, f"{sub}@example.ru"), provider)
    async with browser:
        assert response.status_code == 400, response.headers
        assert not session_cookie(response)
        assert "Не удалось подтвердить вход" in response.text
        assert (await browser.gql(ME))["me"] is None
    assert not await FederatedIdentity.filter(subject__startswith=sub + ";").exists()
    assert not await Account.filter(email=f"{sub}@example.ru").exists()


async def test_start_validates_provider_and_return_url(fed_app):
    async with Browser(fed_app) as browser:

        async def codes(provider: str, return_to: str | None) -> list[str]:
            data = (await browser.gql(START, {"p": provider, "r": return_to}))["startFederatedSignIn"]
            return [f["code"] for f in data.get("fields", [])]

        assert await codes("nope", None) == ["UNKNOWN_PROVIDER"]
        assert await codes("mismatch", None) == ["PROVIDER_UNAVAILABLE"]  # discovery names another issuer
        assert await codes("down", None) == ["PROVIDER_UNAVAILABLE"]
        for bad in (
            "https://evil.example/",
            "//evil.example/x",
            "http://127.0.0.1:8000@evil.example/",
            "http://127.0.0.1:8001/account",
            "ru.example.app://callbackx",
            "ru.example.app://callback/../x#frag",
            "https://web.example.ru.evil.example/",
            "javascript:alert(1)",
            "/account\\@evil",
        ):
            assert await codes("city", bad) == ["RETURN_URL_NOT_ALLOWED"], bad
        for good in ("/support", f"{PUBLIC_URL}/account?tab=1", f"{WEB_CLIENT}after", f"{APP_RETURN}?s=1", APP_RETURN):
            assert await codes("city", good) == [], good
        providers = await browser.gql("{ identityProviders { id name } }")
        assert providers["identityProviders"][0] == {"id": "city", "name": "Городской портал"}


async def test_email_collision_asks_to_sign_in_with_the_password_then_linking_works(fed_app, make_account):
    local = await make_account()
    sub = unique("sub")
    login = account_login(sub, local.email)
    browser, response = await sign_in_through_provider(fed_app, login)
    async with browser:
        assert response.status_code == 400 and not session_cookie(response)
        assert "Войдите один раз по паролю" in response.text
    assert not await FederatedIdentity.filter(subject__startswith=sub + ";").exists()
    assert await Account.filter(email=local.email).count() == 1

    async with Browser(fed_app) as browser:  # signed in with the password (cookie), the resident links
        assert (await browser.gql(LOGIN, {"i": local.email, "p": PASSWORD}))["login"]["__typename"] == "LoginSuccess"
        linked = await browser.http.get(await browser.authorize(await start(browser), login))
        assert linked.status_code == 303
        me = (await browser.gql(ME))["me"]
        assert me["id"] == str(local.id) and [x["provider"] for x in me["linkedIdentities"]] == ["city"]
    assert await AuditEvent.filter(subject_id=local.id, action="federation.linked").exists()

    browser, later = await sign_in_through_provider(fed_app, login)  # from now on the provider signs in
    async with browser:
        assert later.status_code == 303
        assert (await browser.gql(ME))["me"]["id"] == str(local.id)


async def test_pre_hijacked_email_gives_the_attacker_nothing(fed_app, make_account):
    victim_email = f"{unique('victim')}@example.ru"
    attacker_account = await make_account(email=victim_email)  # registered first, e-mail never verified
    victim_sub = unique("victim-sub")
    browser, response = await sign_in_through_provider(fed_app, account_login(victim_sub, victim_email))
    async with browser:
        assert response.status_code == 400 and not session_cookie(response)
    assert not await FederatedIdentity.filter(subject__startswith=victim_sub + ";").exists()
    async with Browser(fed_app) as attacker:
        token = (await attacker.gql(LOGIN, {"i": victim_email, "p": PASSWORD}))["login"]["session"]["accessToken"]
        me = (await attacker.gql(ME, **bearer(token)))["me"]
        assert me["id"] == str(attacker_account.id) and me["linkedIdentities"] == []
    assert await Account.filter(email=victim_email).count() == 1  # no second account holding the e-mail


async def test_an_identity_linked_to_another_account_is_not_moved(fed_app, make_account):
    sub = unique("sub")
    browser, first = await sign_in_through_provider(fed_app, account_login(sub))
    await browser.http.aclose()
    owner = (await FederatedIdentity.get(subject__startswith=sub + ";")).account_id
    other = await make_account()
    async with Browser(fed_app) as browser:
        await browser.gql(LOGIN, {"i": other.email, "p": PASSWORD})
        refused = await browser.http.get(await browser.authorize(await start(browser), account_login(sub)))
        assert refused.status_code == 400 and "уже привязана к другому" in refused.text
    assert (await FederatedIdentity.get(subject__startswith=sub + ";")).account_id == owner


async def test_unlinking_the_last_way_to_sign_in_is_refused(fed_app, make_account):
    sub = unique("sub")
    browser, _ = await sign_in_through_provider(fed_app, account_login(sub))
    async with browser:
        assert (await browser.gql(UNLINK, {"p": "city"}))["unlinkIdentity"]["fields"] == [
            {"code": "LAST_SIGN_IN_METHOD"}
        ]
    local = await make_account()
    async with Browser(fed_app) as browser:
        await browser.gql(LOGIN, {"i": local.email, "p": PASSWORD})
        await browser.http.get(await browser.authorize(await start(browser), account_login(unique("sub"))))
        assert (await browser.gql(UNLINK, {"p": "city"}))["unlinkIdentity"] == {
            "__typename": "IdentityUnlinked",
            "provider": "city",
        }
        assert (await browser.gql(UNLINK, {"p": "city"}))["unlinkIdentity"]["fields"] == [{"code": "NOT_LINKED"}]
        assert (await browser.gql(ME))["me"]["linkedIdentities"] == []
        browser.http.cookies.clear()
        assert (await browser.gql(UNLINK, {"p": "city"}))["unlinkIdentity"]["__typename"] == "NotAuthenticated"


async def test_mobile_login_code_is_single_use_and_short_lived(fed_app, clock):
    sub = unique("sub")
    for wait, expected in ((0, "LoginSuccess"), (61, "InvalidCredentials")):
        async with Browser(fed_app) as app_client, Browser(fed_app) as system_browser:
            url = await start(app_client, return_to=f"{APP_RETURN}?app_state=xyz")
            assert "portal_fed" not in app_client.http.cookies  # nothing to bind: the app checks its own state
            response = await system_browser.http.get(await system_browser.authorize(url, account_login(sub)))
            assert response.status_code == 303 and not session_cookie(response)
            location = response.headers["location"]
            assert location.startswith(f"{APP_RETURN}?app_state=xyz&code=")
            code = parse_qs(urlsplit(location).query)["code"][0]
            assert not await LoginCode.filter(code_hash=code).exists()  # stored only as a keyed hash
            clock.advance(wait)
            first = (await app_client.gql(EXCHANGE, {"c": code}))["exchangeLoginCode"]
            assert first["__typename"] == expected
            if expected == "LoginSuccess":
                assert first["session"]["account"]["hasPassword"] is False
                again = (await app_client.gql(EXCHANGE, {"c": code}))["exchangeLoginCode"]
                assert again["__typename"] == "InvalidCredentials"


async def test_mobile_link_completes_only_for_the_account_that_started_it(fed_app, make_account):
    local = await make_account()
    async with Browser(fed_app) as app_client, Browser(fed_app) as system_browser:
        token = (await app_client.gql(LOGIN, {"i": local.email, "p": PASSWORD}))["login"]["session"]["accessToken"]
        app_client.http.cookies.clear()
        for who, expected in ((None, "InvalidCredentials"), (token, "LoginSuccess")):
            sub = unique("sub")
            url = await start(app_client, return_to=APP_RETURN, **bearer(token))
            system_browser.http.cookies.clear()
            response = await system_browser.http.get(await system_browser.authorize(url, account_login(sub)))
            code = parse_qs(urlsplit(response.headers["location"]).query)["code"][0]
            result = await app_client.gql(EXCHANGE, {"c": code}, **(bearer(who) if who else {}))
            assert result["exchangeLoginCode"]["__typename"] == expected
            linked = await FederatedIdentity.filter(subject__startswith=sub + ";", account_id=local.id).exists()
            assert linked is (expected == "LoginSuccess")


async def test_callbacks_and_code_exchanges_are_throttled_per_client(fed_app):
    async with Browser(fed_app, address="10.99.0.1") as browser:
        statuses = [
            (await browser.http.get("/auth/federated/city/callback?state=x&code=y")).status_code for _ in range(31)
        ]
        assert statuses[:30] == [400] * 30 and statuses[30] == 429
    async with Browser(fed_app, address="10.99.0.2") as browser:
        kinds = [(await browser.gql(EXCHANGE, {"c": f"c{i}"}))["exchangeLoginCode"]["__typename"] for i in range(11)]
        assert kinds[:10] == ["InvalidCredentials"] * 10 and kinds[10] == "TooManyAttempts"


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ('[{"id": "x", "issuer": "https://id.example", "client_id": "c", "client_secret": "s"}]', "providers[0].name"),
        (
            '[{"id": "Bad Id", "name": "n", "issuer": "https://id.example", "client_id": "c", "client_secret": "s"}]',
            "providers[0].id",
        ),
        (
            '[{"id": "x", "name": "n", "issuer": "http://id.example", "client_id": "c", "client_secret": "s"}]',
            "providers[0].issuer",
        ),
        (
            '[{"id": "x", "name": "n", "issuer": "https://id.example", "client_id": "c", "client_secret": "s", '
            '"scopes": ["email"]}]',
            "providers[0].scopes",
        ),
        ('[{"id": "x", "name": "n", "issuer": "https://id.example", "client_id": "c"}]', "providers[0].client_secret"),
        ('{"providers": "nope"}', "PORTAL_OIDC_PROVIDERS"),
        ("/no/such/file.toml", "no such file"),
        ("[not json", "inline JSON"),
    ],
)
def test_bad_provider_configuration_fails_at_start_up(data_dir, database_url, value, named):
    settings = make_settings(data_dir, database_url, None, oidc_providers=value)
    with pytest.raises(SettingsError) as caught:
        create_app(settings, manage_database=False)
    assert named in str(caught.value) and "PORTAL_OIDC_PROVIDERS" in str(caught.value)


def test_providers_from_a_toml_file(tmp_path: Path, data_dir, database_url):
    path = tmp_path / "providers.toml"
    path.write_text(
        '[[providers]]\nid = "city"\nname = "Госуслуги города"\nissuer = "https://id.city.example"\n'
        'client_id = "portal"\nclient_secret = "s3cret"\nscopes = ["openid", "email"]\n',
        encoding="utf-8",
    )
    rt = Runtime(make_settings(data_dir, database_url, None, oidc_providers=str(path)))
    city = rt.providers.get("city")
    assert city is not None and city.name == "Госуслуги города" and city.scopes == ("openid", "email")


async def test_reset_for_a_federated_only_account_names_the_provider_and_sends_no_token(fed_app, fed_rt, smtp_sink):
    from tests.helpers import LINK_RE, drain

    sub, email = unique("sub"), f"{unique('fedreset')}@example.ru"
    browser, response = await sign_in_through_provider(fed_app, account_login(sub, email))
    async with browser:
        assert response.status_code == 303
        browser.http.cookies.clear()
        request = """mutation($i: String!) { requestPasswordReset(identifier: $i) { __typename } }"""
        answer = await browser.gql(request, {"i": email})
        assert answer["requestPasswordReset"]["__typename"] == "PasswordResetRequested"
    await drain(fed_rt)
    letters = await smtp_sink.wait_for(email)
    assert len(letters) == 1
    assert "Городской портал" in letters[0].text
    assert "token=" not in letters[0].text and not LINK_RE.findall(letters[0].text)


async def test_a_federated_only_resident_re_authenticates_through_the_provider_for_a_partner(fed_app, fed_rt):
    """Issue 15: `prompt=login` for a resident without a password: the provider button on the re-authentication
    page signs in again (never links), and the partner's request resumes once, no loop."""
    from portal.core.tokens import new_token
    from portal.identity.provider.partners import add_client
    from tests.helpers import auth_params

    redirect = "https://partner.example.com/callback"
    client = (await add_client(fed_rt, name="Партнёр", redirect_uris=[redirect], first_party=True)).client
    login = account_login(unique("sub"), f"{unique('fedre')}@example.ru")
    browser, first = await sign_in_through_provider(fed_app, login)
    async with browser:
        assert first.status_code == 303
        params = {**auth_params(client.id, new_token()), "prompt": "login"}
        asked = await browser.http.get("/oauth/authorize", params=params)
        page = await browser.http.get(asked.headers["location"])
        assert page.status_code == 200 and "Подтвердите, что это вы" in page.text
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        nxt = html.unescape(re.search(r'name="next" value="([^"]+)"', page.text).group(1))  # type: ignore[union-attr]
        started = await browser.http.post("/login/federated", data={"csrf": token, "provider": "city", "next": nxt})
        assert started.status_code == 303
        callback = await browser.authorize(started.headers["location"], login)
        back = await browser.http.get(callback)
        assert back.status_code == 303 and back.headers["location"].startswith(PUBLIC_URL + "/oauth/authorize?")
        done = await browser.http.get(back.headers["location"])
        assert done.status_code == 302 and done.headers["location"].startswith(redirect + "?"), done.headers
        assert "code=" in done.headers["location"]
