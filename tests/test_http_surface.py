"""The HTTP and GraphQL surface: methods, media types, origins and CORS, limits, timeouts, production mode,
security headers on every kind of response, and a corpus of huge and broken inputs; in-process and through
a real `portal serve` where headers and body limits matter."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import strawberry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route
from strawberry.extensions import QueryDepthLimiter, ValidationCache
from strawberry.extensions.validation_cache import _get_validate_cache

from portal.api.middleware import Edge
from portal.core.runtime import Runtime
from portal.core.settings import SettingsError, load_settings
from portal.schema import MaskUnexpectedErrors, PortalSchema
from portal.schema.limits import CACHE_SIZE, MAX_ALIASES, MAX_DEPTH, MAX_TOKENS
from tests.helpers import (
    LOGIN,
    PASSWORD,
    PUBLIC_URL,
    SAME_ORIGIN,
    Surface,
    make_settings,
    settings_env,
    start_live_server,
    stop_live_server,
)

PORTAL = str(Path(sys.executable).parent / "portal")
WRONG = "definitely not the password"


@pytest.fixture
def surface(data_dir, database_url, clock, database, smtp_sink):  # type: ignore[no-untyped-def]
    def build(**overrides: Any) -> Surface:
        return Surface(Runtime(make_settings(data_dir, database_url, smtp_sink.port, **overrides), clock))

    return build


def code_of(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


def codes_of(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json()["errors"]]


JSON_TYPE = {"Content-Type": "application/json"}


def login_body(identifier: str, password: str = WRONG) -> dict[str, Any]:
    return {"query": LOGIN, "variables": {"identifier": identifier, "password": password}}


# --- methods and media types -------------------------------------------------------------------------------

async def test_only_post_with_json_runs_operations(surface, make_account):
    s = surface()
    account = await make_account()
    mutation = f'mutation {{ login(identifier: "{account.email}", password: "{WRONG}") {{ __typename }} }}'
    async with s.client() as c:
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            refused = await c.request(method, "/graphql", params={"query": mutation})
            assert refused.status_code == 405, (method, refused.text)
            assert refused.headers["allow"] == "POST" and code_of(refused) == "METHOD_NOT_ALLOWED"
        raw = json.dumps(login_body(account.email)).encode()
        for content_type, body in [
            ("text/plain", raw),
            ("text/plain;charset=UTF-8", raw),
            ("application/x-www-form-urlencoded", f"query={mutation}".encode()),
            ("application/graphql", mutation.encode()),
            ("", raw),
        ]:
            refused = await c.post("/graphql", content=body, headers={"Content-Type": content_type})
            assert refused.status_code == 415 and code_of(refused) == "UNSUPPORTED_MEDIA_TYPE", content_type
        multipart = await c.post("/graphql", data={"operations": json.dumps(login_body(account.email))},
                                 files={"0": ("a.txt", b"x")})
        assert multipart.status_code == 415 and code_of(multipart) == "UNSUPPORTED_MEDIA_TYPE"
        assert await s.failures(account) == 0  # none of them ran
        accepted = await c.post("/graphql", content=raw, headers={"Content-Type": "application/json; charset=utf-8"})
        assert accepted.json()["data"]["login"]["__typename"] == "InvalidCredentials"
        assert await s.failures(account) == 1


# --- origins and CORS --------------------------------------------------------------------------------------

ME = {"query": "{ me { id } }"}


async def signed_in_cookie(s: Surface, email: str) -> dict[str, str]:
    async with s.client() as c:
        done = await c.post("/graphql", json=login_body(email, PASSWORD), headers=SAME_ORIGIN)  # a page's login
        assert done.json()["data"]["login"]["__typename"] == "LoginSuccess", done.text
        return {name: value for name, value in c.cookies.items()}


async def test_cookie_sessions_need_an_allowed_origin(surface, make_account):
    s = surface()
    account = await make_account()
    cookies = await signed_in_cookie(s, account.email)
    async with s.client(cookies=cookies) as c:
        # No Origin: a non-browser client.
        assert (await c.post("/graphql", json=ME)).json()["data"]["me"]["id"] == str(account.id)
        same = await c.post("/graphql", json=ME, headers={"Origin": PUBLIC_URL})
        assert same.json()["data"]["me"]["id"] == str(account.id)
        for evil in ("https://evil.example", "null", "http://127.0.0.1:8001", "http://127.0.0.1:8000.evil.example"):
            refused = await c.post("/graphql", json=ME, headers={"Origin": evil})
            assert refused.status_code == 403 and code_of(refused) == "ORIGIN_NOT_ALLOWED", evil


async def test_cors_for_configured_origins_with_credentials(surface, make_account):
    app_origin = "https://app.example.ru"
    s = surface(cors_origins=f"{app_origin}, https://other.example.ru/")
    account = await make_account()
    cookies = await signed_in_cookie(s, account.email)
    preflight_headers = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    async with s.client(cookies=cookies) as c:
        ok = await c.options("/graphql", headers={"Origin": app_origin, **preflight_headers})
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == app_origin
        assert ok.headers["access-control-allow-credentials"] == "true"
        assert "POST" in ok.headers["access-control-allow-methods"]
        assert ok.headers["x-content-type-options"] == "nosniff"
        other = await c.options("/graphql", headers={"Origin": "https://other.example.ru", **preflight_headers})
        assert other.headers["access-control-allow-origin"] == "https://other.example.ru"
        evil = await c.options("/graphql", headers={"Origin": "https://evil.example", **preflight_headers})
        assert evil.status_code == 400 and "access-control-allow-origin" not in evil.headers
        me = await c.post("/graphql", json=ME, headers={"Origin": app_origin})
        assert me.json()["data"]["me"]["id"] == str(account.id)
        assert me.headers["access-control-allow-origin"] == app_origin
        assert me.headers["access-control-allow-credentials"] == "true"
        refused = await c.post("/graphql", json=ME, headers={"Origin": "https://evil.example"})
        assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers
    # Without PORTAL_CORS_ORIGINS nobody gets CORS headers.
    async with surface().client() as c:
        none = await c.options("/graphql", headers={"Origin": app_origin, **preflight_headers})
        assert "access-control-allow-origin" not in none.headers


# --- limits ------------------------------------------------------------------------------------------------

async def test_depth_alias_token_and_body_limits_each_have_a_clear_error(surface):
    s = surface()
    deep = "{ me " + "{ a " * MAX_DEPTH + "{ b }" + " }" * MAX_DEPTH + " }"
    response = await s.post({"query": deep})
    assert response.status_code == 400 and "QUERY_TOO_DEEP" in codes_of(response), response.text
    assert any("maximum operation depth of 10" in e["message"] for e in response.json()["errors"])

    aliases = "{ " + " ".join(f"m{i}: me {{ id }}" for i in range(MAX_ALIASES + 1)) + " }"
    response = await s.post({"query": aliases})
    assert response.status_code == 400 and codes_of(response) == ["TOO_MANY_ALIASES"], response.text
    at_limit = "{ " + " ".join(f"m{i}: me {{ id }}" for i in range(MAX_ALIASES)) + " }"
    assert (await s.post({"query": at_limit})).status_code == 200
    # Aliases hidden in fragments count too.
    fragmented = "{ ...F ...G } fragment F on Query { " + " ".join(f"f{i}: me {{ id }}" for i in range(8)) + " } " \
        "fragment G on Query { " + " ".join(f"g{i}: me {{ id }}" for i in range(8)) + " }"
    assert codes_of(await s.post({"query": fragmented})) == ["TOO_MANY_ALIASES"]

    tokens = "{ " + "__typename " * MAX_TOKENS + "}"
    response = await s.post({"query": tokens})
    assert response.status_code == 400 and codes_of(response) == ["TOO_MANY_TOKENS"], response.text

    async with s.client() as c:
        big = json.dumps({"query": "{ me { id } }", "variables": {"x": "y" * 70_000}}).encode()
        declared = await c.post("/graphql", content=big, headers={"Content-Type": "application/json"})
        assert declared.status_code == 413 and code_of(declared) == "REQUEST_TOO_LARGE"

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
            for i in range(0, len(big), 8192):
                yield big[i : i + 8192]

        streamed = await c.post("/graphql", content=chunks(), headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413 and code_of(streamed) == "REQUEST_TOO_LARGE"
        lying = await c.post("/graphql", content=b"{}", headers={"Content-Type": "application/json",
                                                                  "Content-Length": "not a number"})
        assert lying.status_code in (400, 413)


async def test_request_timeouts(surface, make_account):
    slow_body = surface(request_timeout=0.3)
    async with slow_body.client() as c:
        async def drip() -> AsyncIterator[bytes]:
            yield b'{"query": "{ me { id } }"'
            await asyncio.sleep(1.5)
            yield b"}"

        response = await c.post("/graphql", content=drip(), headers={"Content-Type": "application/json"})
        assert response.status_code == 408 and code_of(response) == "REQUEST_TIMEOUT"
    # An operation that runs past the limit (a deliberately slow hash) is cut off with a clear error.
    slow_work = surface(request_timeout=0.05, argon2_time_cost=40)
    account = await make_account()
    response = await slow_work.post(login_body(account.email, PASSWORD))
    assert response.status_code == 503 and code_of(response) == "REQUEST_TIMEOUT", response.text


async def test_the_validation_cache_keeps_hitting(surface):
    """`/graphql` parses and validates a document once (schema/runner.py); Strawberry's own path needs its
    limiter rule classes built once per schema, or every request misses (the toy schema below)."""
    s = surface()
    cache = s.app.state.graphql.runner.prepared
    before = cache.cache_info()
    query = {"query": "query Probe { me { id email } }"}
    for _ in range(50):
        assert (await s.post(query)).status_code == 200
    after = cache.cache_info()
    hits, misses = after.hits - before.hits, after.misses - before.misses
    assert hits >= 49 and misses <= 1, (hits, misses)

    # The pitfall, shown on a toy schema: a per-request `QueryDepthLimiter` makes a new rule class each time.
    cache = _get_validate_cache(CACHE_SIZE)
    @strawberry.type
    class Query:
        @strawberry.field
        def ping(self) -> str:
            return "pong"

    naive = strawberry.Schema(
        query=Query, extensions=[lambda: QueryDepthLimiter(max_depth=5), lambda: ValidationCache(maxsize=CACHE_SIZE)]
    )
    before = cache.cache_info()
    for _ in range(20):
        assert (await naive.execute("{ ping }")).data == {"ping": "pong"}
    after = cache.cache_info()
    assert after.hits - before.hits == 0 and after.misses - before.misses == 20


# --- production mode ---------------------------------------------------------------------------------------

TICKET_WITH_CATEGORY = (
    'mutation($c: TicketCategory!) { submitSupportTicket(input: {fullName: "a", registrationAddress: "b", '
    'phone: "+79120000000", accountIdentifier: "c", description: "d", personalDataConsent: true, category: $c}) '
    "{ __typename } }"
)


async def test_production_hides_the_schema_and_still_serves_the_contract(surface, make_account):
    prod, dev = surface(env="production"), surface()
    async with prod.client() as p, dev.client() as d:
        assert (await p.get("/graphql", headers={"Accept": "text/html"})).status_code == 405  # no GraphiQL
        graphiql = await d.get("/graphql", headers={"Accept": "text/html"})
        assert graphiql.status_code == 200 and "graphiql" in graphiql.text.lower()

        for query in ("{ __schema { types { name } } }", '{ __type(name: "Account") { fields { name } } }'):
            refused = await p.post("/graphql", json={"query": query})
            assert refused.status_code == 400 and "INTROSPECTION_DISABLED" in codes_of(refused), refused.text
            assert (await d.post("/graphql", json={"query": query})).status_code == 200
        assert (await p.post("/graphql", json={"query": "{ __typename }"})).json()["data"] == {"__typename": "Query"}

        for query, variables in [
            ("{ mee { id } }", None),
            ('mutation { login(identifer: "a", password: "b") { __typename } }', None),
            (TICKET_WITH_CATEGORY, {"c": "ACCOUNT_ACESS"}),  # coerced at execution, not validation
            ("query($c: TicketCategry) { __typename }", None),
        ]:
            hidden = await p.post("/graphql", json={"query": query, "variables": variables})
            shown = await d.post("/graphql", json={"query": query, "variables": variables})
            assert hidden.status_code == 400 and shown.status_code == 400
            assert "Did you mean" not in hidden.text, hidden.text
            assert "Did you mean" in shown.text, shown.text

        account = await make_account()
        done = await p.post("/graphql", json=login_body(account.email, PASSWORD))
        assert done.json()["data"]["login"]["__typename"] == "LoginSuccess"
        assert done.headers["strict-transport-security"].startswith("max-age=")
        assert "strict-transport-security" not in (await d.get("/healthz")).headers


async def test_unexpected_errors_are_masked_with_a_request_id(caplog):
    # Inside GraphQL: the schema's masking extension, on a resolver that has a bug.
    @strawberry.type
    class Query:
        @strawberry.field
        def broken(self) -> str:
            raise RuntimeError("SELECT secret FROM accounts -- stack details")

    class Ctx:
        request_id = "req-123"

    schema = PortalSchema(query=Query, extensions=[MaskUnexpectedErrors])  # logs through process_errors
    result = await schema.execute("{ broken }", context_value=Ctx())
    assert result.errors and result.errors[0].message == "Internal error"
    assert result.errors[0].extensions == {"code": "INTERNAL_ERROR", "requestId": "req-123"}
    assert "req-123" in caplog.text and "SELECT secret" in caplog.text  # logged for us, not shown to them

    # Outside GraphQL: the middleware's last resort, with the security headers still on.
    async def crash(_request: Any) -> Any:
        raise RuntimeError("Traceback material")

    app = Starlette(routes=[Route("/crash", crash)], middleware=[Middleware(Edge, settings=load_settings(_env_file=None))])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL) as c:
        response = await c.get("/crash")
    assert response.status_code == 500 and "Traceback" not in response.text
    body = response.json()["errors"][0]
    assert body["extensions"]["code"] == "INTERNAL_ERROR" and body["extensions"]["requestId"] == response.headers[
        "x-request-id"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_production_settings_refusals(tmp_path):
    def settings(**values: Any) -> Any:
        return load_settings(_env_file=None, env="production", data_dir=tmp_path, **values)

    secret = "s" * 32
    with pytest.raises(SettingsError, match="PORTAL_SECRET_KEY"):
        settings(public_url="https://portal.example.ru")
    with pytest.raises(SettingsError, match="PORTAL_SECRET_KEY"):
        settings(public_url="https://portal.example.ru", secret_key="s" * 31)
    with pytest.raises(SettingsError, match="https"):
        settings(public_url="http://portal.example.ru", secret_key=secret)
    for loopback in ("http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"):
        assert settings(public_url=loopback, secret_key=secret).production
    assert settings(public_url="https://portal.example.ru", secret_key=secret).secure_cookies


def test_portal_serve_refuses_to_start_in_production_without_a_secret_or_https(tmp_path):
    base = {**os.environ, "PORTAL_ENV": "production", "PORTAL_DATA_DIR": str(tmp_path),
            "PORTAL_PUBLIC_URL": "https://portal.example.ru", "PORTAL_SECRET_KEY": "s" * 48}
    for change, needle in [
        ({"PORTAL_SECRET_KEY": ""}, "PORTAL_SECRET_KEY"),
        ({"PORTAL_SECRET_KEY": "short"}, "PORTAL_SECRET_KEY"),
        ({"PORTAL_PUBLIC_URL": "http://portal.example.ru"}, "https://"),
    ]:
        done = subprocess.run([PORTAL, "serve", "--port", "1"], env={**base, **change}, cwd=tmp_path,  # noqa: S603
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, done.stderr
        assert "configuration error" in done.stderr and needle in done.stderr, done.stderr


# --- security headers --------------------------------------------------------------------------------------

def assert_common_headers(response: httpx.Response, what: str) -> None:
    h = response.headers
    assert h.get("x-content-type-options") == "nosniff", what
    assert h.get("x-frame-options") == "DENY", what
    assert "frame-ancestors 'none'" in h.get("content-security-policy", ""), what
    assert h.get("referrer-policy") in ("strict-origin-when-cross-origin", "no-referrer", "same-origin"), what


def assert_strict_html_csp(response: httpx.Response, what: str) -> None:
    csp = response.headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    scripts = directives.get("script-src", directives.get("default-src", []))
    assert "'self'" in directives.get("default-src", []) and "'unsafe-inline'" not in scripts, (what, csp)


async def test_security_headers_on_every_kind_of_response(surface, make_account):
    s = surface()
    account = await make_account()
    async with s.client() as c:
        samples = {
            "graphql 200": await s.post(login_body(account.email, PASSWORD)),  # its cookie stays in that client
            "graphql 400": await c.post("/graphql", json={"query": "{ nope }"}),
            "graphql 405": await c.get("/graphql"),
            "graphql 413": await c.post("/graphql", content=b"x" * 70_000, headers=JSON_TYPE),
            "graphql 415": await c.post("/graphql", content=b"{}", headers={"Content-Type": "text/plain"}),
            "healthz": await c.get("/healthz"),
            "404": await c.get("/no-such-page"),
            "openid metadata": await c.get("/.well-known/openid-configuration"),
            "login page": await c.get("/login"),
            "reset page": await c.get("/reset-password", params={"token": "abc"}),
            "support status page": await c.get("/support/status", params={"number": "1", "key": "k"}),
        }
    for what, response in samples.items():
        assert_common_headers(response, what)
        if response.headers.get("content-type", "").startswith("text/html"):
            assert_strict_html_csp(response, what)
    for what in ("graphql 200", "graphql 400", "graphql 405", "graphql 413", "graphql 415", "healthz", "404"):
        assert samples[what].headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert samples["graphql 200"].headers["cache-control"] == "no-store"
    assert samples["graphql 200"].headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert samples["login page"].headers["content-type"].startswith("text/html")
    for token_page in ("reset page", "support status page"):
        assert samples[token_page].headers["referrer-policy"] == "no-referrer", token_page
    assert "strict-transport-security" not in samples["healthz"].headers  # development


async def test_the_real_server_sends_the_headers_and_enforces_the_body_limit(settings, database, tmp_path):
    env = {**settings_env(settings), "PORTAL_ENV": "production"}  # loopback http is allowed in production
    server = start_live_server(env, tmp_path)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as c:
            health = await c.get("/healthz")
            assert_common_headers(health, "healthz")
            assert health.headers["strict-transport-security"] == "max-age=63072000; includeSubDomains"
            ok = await c.post("/graphql", json={"query": "{ __typename }"})
            assert ok.status_code == 200 and ok.json()["data"] == {"__typename": "Query"}
            assert_common_headers(ok, "graphql")
            big = b'{"query": "' + b"x" * 70_000 + b'"}'
            declared = await c.post("/graphql", content=big, headers={"Content-Type": "application/json"})
            assert declared.status_code == 413 and code_of(declared) == "REQUEST_TOO_LARGE"

            async def chunks() -> AsyncIterator[bytes]:
                for i in range(0, len(big), 4096):
                    yield big[i : i + 4096]

            streamed = await c.post("/graphql", content=chunks(), headers={"Content-Type": "application/json"})
            assert streamed.status_code == 413 and code_of(streamed) == "REQUEST_TOO_LARGE"
            assert (await c.post("/graphql", content=b"{}", headers={"Content-Type": "text/plain"})).status_code == 415
            assert (await c.get("/graphql", params={"query": "mutation { logout { __typename } }"})).status_code == 405
            assert (await c.get("/graphql", headers={"Accept": "text/html"})).status_code == 405  # no GraphiQL
            introspection = await c.post("/graphql", json={"query": "{ __schema { queryType { name } } }"})
            assert introspection.status_code == 400 and "INTROSPECTION_DISABLED" in codes_of(introspection)
            # Cross-site cookie session from a foreign Origin: refused.
            c.cookies.set("portal_session", "x" * 43)
            refused = await c.post("/graphql", json=ME, headers={"Origin": "https://evil.example"})
            assert refused.status_code == 403
    finally:
        stop_live_server(server)


# --- huge and broken inputs --------------------------------------------------------------------------------

TYPED = {"InvalidCredentials", "ValidationError", "TooManyAttempts", "InvalidToken", "PasswordResetRequested",
         "SupportTicketSubmitted"}


async def test_broken_bodies_get_a_4xx_never_a_500(surface):
    s = surface()
    query = '"query": "mutation($i: String!, $p: String!) { login(identifier: $i, password: $p) { __typename } }"'
    corpus: list[tuple[bytes, str]] = [
        (b"{", "INVALID_JSON"),
        (b"", "INVALID_JSON"),
        (b"\x00\x00\x00", "INVALID_JSON"),
        (b'{"query": "\xc3\x28"}', "INVALID_JSON"),  # invalid UTF-8
        (b'{"query": "{ me { id } }", "variables": {"i": "\\ud800"}}', "INVALID_JSON"),  # a lone surrogate
        (b'{"variables": {"i": ' + b"[" * 30_000 + b"]" * 30_000 + b"}}", "INVALID_JSON"),  # absurd nesting
        (b"[]", "BATCHING_NOT_SUPPORTED"),
        (b'"just a string"', "INVALID_REQUEST"),
        (b"{}", "INVALID_REQUEST"),
        (b'{"query": 5}', "INVALID_REQUEST"),
        (b'{"query": "   "}', "INVALID_REQUEST"),
        (b'{"query": "{ me { id } }", "variables": []}', "INVALID_REQUEST"),
        (b'{"query": "{ me { id } }", "operationName": 7}', "INVALID_REQUEST"),
        (b'{"query": "{ me { id } }", "operationName": "Missing"}', "INVALID_REQUEST"),
        (b'{"query": "subscription { me { id } }"}', "GRAPHQL_VALIDATION_FAILED"),
        (b'{"query": "{ me { id "}', "GRAPHQL_VALIDATION_FAILED"),  # a syntax error
        # Variables of the wrong type are refused while coercing them (graphql-core wraps the cause: BAD_REQUEST).
        (b"{" + query.encode() + b', "variables": {"i": 5, "p": null}}', "BAD_REQUEST"),
        (b"{" + query.encode() + b', "variables": {"i": {"a": 1}, "p": ["x"]}}', "BAD_REQUEST"),
        (b"{" + query.encode() + b', "variables": {"i": ' + json.dumps(["a"] * 10_000).encode() + b', "p": "x"}}',
         "BAD_REQUEST"),  # a huge list
        (b"{" + query.encode() + b', "variables": {"i": ' + b'{"a": ' * 400 + b"1" + b"}" * 400 + b', "p": "x"}}',
         "BAD_REQUEST"),  # deeply nested, within what JSON parses
    ]
    async with s.client() as c:
        for body, code in corpus:
            response = await c.post("/graphql", content=body, headers={"Content-Type": "application/json"})
            assert 400 <= response.status_code < 500, (body[:80], response.status_code, response.text[:300])
            assert code in codes_of(response), (body[:80], response.text[:300])


async def test_huge_and_odd_values_get_typed_answers_and_no_oversized_hash(surface, make_account):
    s = surface()
    account = await make_account()
    limit = s.rt.settings.password_max_length

    async def answer(identifier: str, password: str) -> dict[str, Any]:
        response = await s.post(login_body(identifier, password))
        assert response.status_code == 200, response.text[:300]
        return response.json()["data"]["login"]

    for password in ("x" * (limit + 1), "x" * 60_000, "ж" * (limit + 1)):
        refused = await answer(account.email, password)
        assert refused["__typename"] == "ValidationError" and refused["fields"][0]["code"] == "PASSWORD_TOO_LONG"
    assert await s.failures(account) == 0  # refused before any attempt, so before any hash
    assert (await answer(account.email, "x" * limit))["__typename"] == "InvalidCredentials"
    assert await s.failures(account) == 1
    huge = await s.post(login_body(account.email, "x" * 1_000_000))
    assert huge.status_code == 413
    nul = await answer(f"{account.email}\x00", PASSWORD)
    assert nul["__typename"] == "ValidationError" and nul["fields"][0]["code"] == "INVALID_CHARACTERS"
    assert (await answer(account.email, "pass\x00word with a nul"))["__typename"] == "InvalidCredentials"
    assert (await answer("x" * 60_000, PASSWORD))["__typename"] == "ValidationError"
    assert (await answer("\u202e\ufeff" + account.email, PASSWORD))["__typename"] in TYPED
    assert (await answer("😀" * 100, "🔑" * 100))["__typename"] in TYPED


SENSITIVE_CALLS = [
    ("refreshSession", "mutation($v: String!) { refreshSession(refreshToken: $v) { __typename } }"),
    ("requestPasswordReset", "mutation($v: String!) { requestPasswordReset(identifier: $v) { __typename } }"),
    ("resetPassword", "mutation($v: String!) { resetPassword(token: $v, newPassword: $v, "
                      "newPasswordConfirmation: $v) { __typename } }"),
    ("exchangeLoginCode", "mutation($v: String!) { exchangeLoginCode(code: $v) { __typename } }"),
    ("submitSupportTicket", "mutation($v: String!) { submitSupportTicket(input: {fullName: $v, "
                            "registrationAddress: $v, phone: $v, accountIdentifier: $v, replyEmail: $v, "
                            "description: $v, personalDataConsent: true, idempotencyKey: $v}) { __typename } }"),
]


@pytest.mark.parametrize("value", ["x" * 60_000, "a\x00b\r\nBcc: x@evil.example", "' OR 1=1 --", "😀" * 5000, ""])
@pytest.mark.parametrize(("field", "mutation"), SENSITIVE_CALLS, ids=[name for name, _ in SENSITIVE_CALLS])
async def test_every_door_answers_odd_input_with_a_type(surface, field, mutation, value):
    s = surface()
    response = await s.post({"query": mutation, "variables": {"v": value}})
    assert response.status_code == 200, response.text[:500]
    assert response.json()["data"][field]["__typename"] in TYPED, response.text[:500]
