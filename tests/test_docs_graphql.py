"""The worked examples of docs/graphql.md work: each document validates against the schema and runs as written,
and the journeys the page describes (sign-in, refresh, reset, ticket, provider sign-in into a mobile app,
the web client's cookie) go through with those very documents.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import graphql
import pytest

from portal.api.app import create_app
from portal.core.runtime import Runtime
from portal.schema import build_schema
from tests.federation_op import Browser, account_login, start_provider, stop_provider
from tests.helpers import GQL, PASSWORD, PUBLIC_URL, client_at, drain, make_settings, token_from, unique

PAGE = Path(__file__).resolve().parent.parent / "docs" / "graphql.md"
BLOCK = re.compile(r"```graphql\n(?P<doc>.*?)```(?:\s*```json\n(?P<vars>.*?)```)?", re.S)


def examples() -> dict[str, tuple[str, dict[str, Any]]]:
    """Operation name -> (document, the variables shown under it)."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for match in BLOCK.finditer(PAGE.read_text(encoding="utf-8")):
        document = match["doc"]
        name = re.search(r"^(?:query|mutation)\s+(\w+)", document, re.M)
        assert name, f"every example is a named operation:\n{document}"
        assert name[1] not in found, f"two examples named {name[1]}"
        found[name[1]] = (document, json.loads(match["vars"]) if match["vars"] else {})
    return found


EXAMPLES = examples()


def doc(name: str) -> str:
    return EXAMPLES[name][0]


def test_the_page_has_the_examples_it_promises() -> None:
    assert {
        "SignIn", "Me", "Refresh", "SignOut", "ForgotPassword", "ResetPassword", "Providers",
        "StartProviderSignIn", "FinishProviderSignIn", "SubmitTicket", "TicketStatus",
    } <= set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_example_validates_against_the_schema(name: str) -> None:
    schema = build_schema()._schema
    document, variables = EXAMPLES[name]
    assert graphql.validate(schema, graphql.parse(document)) == []
    operation = graphql.get_operation_ast(graphql.parse(document))
    assert operation is not None
    declared = {v.variable.name.value for v in operation.variable_definitions or ()}
    assert set(variables) <= declared, "the variables shown are the ones the document declares"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
async def test_every_example_runs_as_written(app: Any, name: str) -> None:
    """Sent exactly as the page shows it (placeholders and all), each gets a typed answer, never an error."""
    document, variables = EXAMPLES[name]
    async with client_at(app) as client:
        response = await client.post("/graphql", json={"query": document, "variables": variables})
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    (value,) = body["data"].values()
    if isinstance(value, dict) and "__typename" in value:  # a mutation's union: one of its typed members
        assert build_schema()._schema.get_type(value["__typename"]) is not None, value


async def test_the_mobile_journey_sign_in_refresh_sign_out(app: Any, make_account: Any) -> None:
    phone = "+7 9" + "".join(str(secrets.randbelow(10)) for _ in range(9))
    account = await make_account(phone=phone)
    async with client_at(app) as client:
        gql = GQL(client)
        signed = (await gql(doc("SignIn"), {"identifier": phone, "password": PASSWORD}))["login"]
        assert signed["__typename"] == "LoginSuccess", signed
        session = signed["session"]
        assert session["account"]["id"] == str(account.id)
        client.cookies.clear()  # a mobile app has no cookie jar: the bearer token alone
        bearer = {"Authorization": f"Bearer {session['accessToken']}"}
        assert (await gql(doc("Me"), headers=bearer))["me"]["email"] == account.email

        renewed = (await gql(doc("Refresh"), {"refreshToken": session["refreshToken"]}))["refreshSession"]
        assert renewed["__typename"] == "LoginSuccess"
        assert renewed["session"]["refreshToken"] != session["refreshToken"]
        bearer = {"Authorization": f"Bearer {renewed['session']['accessToken']}"}
        assert (await gql(doc("Me"), headers=bearer))["me"]["id"] == str(account.id)

        # As the page says: a spent refresh token presented again ends the whole session.
        replay = (await gql(doc("Refresh"), {"refreshToken": session["refreshToken"]}))["refreshSession"]
        assert replay["__typename"] == "InvalidCredentials"
        assert (await gql(doc("Me"), headers=bearer))["me"] is None

        again = (await gql(doc("SignIn"), {"identifier": account.email, "password": PASSWORD}))["login"]
        bearer = {"Authorization": f"Bearer {again['session']['accessToken']}"}
        client.cookies.clear()
        assert (await gql(doc("SignOut"), headers=bearer))["logout"]["__typename"] == "LoggedOut"
        assert (await gql(doc("Me"), headers=bearer))["me"] is None


async def test_the_forgotten_password_journey(rt: Runtime, app: Any, make_account: Any, smtp_sink: Any) -> None:
    account = await make_account()
    async with client_at(app) as client:
        gql = GQL(client)
        asked = (await gql(doc("ForgotPassword"), {"identifier": account.email}))["requestPasswordReset"]
        assert asked["__typename"] == "PasswordResetRequested"
        await drain(rt)
        token = token_from((await smtp_sink.wait_for(account.email, 1))[-1])
        new = "a new long passphrase for the docs"
        done = (await gql(doc("ResetPassword"), {"token": token, "newPassword": new, "confirmation": new}))
        assert done["resetPassword"]["__typename"] == "PasswordResetSucceeded"
        signed = (await gql(doc("SignIn"), {"identifier": account.email, "password": new}))["login"]
        assert signed["__typename"] == "LoginSuccess"


async def test_the_support_ticket_journey(app: Any) -> None:
    _, variables = EXAMPLES["SubmitTicket"]
    ticket_input = {**variables["input"], "idempotencyKey": unique("docs")}
    async with client_at(app) as client:
        gql = GQL(client)
        submitted = (await gql(doc("SubmitTicket"), {"input": ticket_input}))["submitSupportTicket"]
        assert submitted["__typename"] == "SupportTicketSubmitted", submitted
        number, key = submitted["ticket"]["number"], submitted["accessKey"]
        found = (await gql(doc("TicketStatus"), {"number": number, "accessKey": key}))["supportTicket"]
        assert found["number"] == number and found["status"] == "NEW"
        assert (await gql(doc("TicketStatus"), {"number": number, "accessKey": key[:-2]}))["supportTicket"] is None


async def test_the_web_client_journey_with_the_session_cookie(app: Any, make_account: Any) -> None:
    account = await make_account()
    async with client_at(app) as browser:
        gql = GQL(browser)
        # What a browser sends by itself with a same-origin fetch (a bearer client never gets the cookie).
        page = {"headers": {"Origin": PUBLIC_URL, "Sec-Fetch-Site": "same-origin"}}
        signed = (await gql(doc("SignIn"), {"identifier": account.email, "password": PASSWORD}, **page))["login"]
        assert signed["__typename"] == "LoginSuccess"
        assert browser.cookies  # the session cookie: no header needed
        assert (await gql(doc("Me"), **page))["me"]["id"] == str(account.id)
        assert (await gql(doc("SignOut"), **page))["logout"]["__typename"] == "LoggedOut"
        assert (await gql(doc("Me"), **page))["me"] is None


@pytest.fixture(scope="module")
def op(tmp_path_factory: pytest.TempPathFactory) -> Any:
    provider = start_provider(tmp_path_factory.mktemp("docs-op"))
    yield provider
    stop_provider(provider)


async def test_provider_sign_in_back_into_the_mobile_app(
    op: Any, data_dir: Path, database_url: str, smtp_sink: Any, clock: Any, database: None
) -> None:
    """The page's example as written: the `city` provider, the app's return URL with its own state."""
    _, start_vars = EXAMPLES["StartProviderSignIn"]
    return_to = start_vars["returnTo"]
    app_url = return_to.split("?")[0]
    settings = make_settings(
        data_dir, database_url, smtp_sink.port,
        oidc_providers=json.dumps(op.portal_config()), allowed_return_urls=app_url,
    )
    app = create_app(runtime=Runtime(settings, clock), manage_database=False)
    async with Browser(app) as mobile_app, Browser(app) as system_browser:
        providers = (await mobile_app.gql(doc("Providers")))["identityProviders"]
        assert start_vars["provider"] in [p["id"] for p in providers]
        started = (await mobile_app.gql(doc("StartProviderSignIn"), start_vars))["startFederatedSignIn"]
        assert started["__typename"] == "FederatedSignInStarted", started
        email = f"{unique('docs')}@example.ru"
        callback = await system_browser.authorize(started["authorizationUrl"], account_login(unique("sub"), email))
        back = await system_browser.http.get(callback)
        assert back.status_code == 303
        location = back.headers["location"]
        assert location.startswith(return_to + "&code=")
        query = parse_qs(urlsplit(location).query)
        assert query["app_state"] == parse_qs(urlsplit(return_to).query)["app_state"]
        finished = (await mobile_app.gql(doc("FinishProviderSignIn"), {"code": query["code"][0]}))
        result = finished["exchangeLoginCode"]
        assert result["__typename"] == "LoginSuccess", result
        assert result["session"]["account"]["hasPassword"] is False

        refused = (
            await mobile_app.gql(doc("StartProviderSignIn"), {**start_vars, "returnTo": "evil.app://callback"})
        )["startFederatedSignIn"]
        assert [f["code"] for f in refused["fields"]] == ["RETURN_URL_NOT_ALLOWED"]
