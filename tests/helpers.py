"""Plain helpers shared by the test modules: constants, settings, live servers, GraphQL and page clients, mail.

Fixtures live in tests/conftest.py and use these; a test module imports from here, never from another test
module. Sections: services and settings, live servers, GraphQL, mail and reset, pages, support and the staff
desk, TOTP, the OpenID provider, the HTTP surface, the residents' registry, Chromium.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import itertools
import os
import random
import re
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest
from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLList, GraphQLNonNull, GraphQLScalarType

from bench.ports import free_port
from portal.api.app import create_app
from portal.core.runtime import Runtime
from portal.core.settings import Settings
from portal.core.tokens import new_token
from portal.identity.provider.partners import add_client
from portal.identity.signin import SIGNIN_BACKOFF, account_key
from portal.mail.delivery import BATCH_SIZE, DeliveryReport, deliver_due
from portal.models.accounts import Account, Role
from tests.smtp_sink import Letter

# --- services and settings ---------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_SERVICES = os.environ.get("PORTAL_TEST_REQUIRE_SERVICES") == "1"
PUBLIC_URL = "http://127.0.0.1:8000"
PASSWORD = "correct horse battery staple"


def need_service(available: bool, reason: str) -> None:
    """Skip with a clear reason where a service is absent; under CI a missing service is a failure."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing under CI: {reason}")
    pytest.skip(reason)


def wait_until(
    check: Any, seconds: float, pause: float = 0.2, ignoring: tuple[type[BaseException], ...] = ()
) -> bool:
    """Polls `check` until it is true or `seconds` pass; exceptions of the `ignoring` kinds count as not yet."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except ignoring:
            pass
        time.sleep(pause)
    return False


def unique(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def random_phone() -> str:
    """A fresh Russian mobile number in E.164."""
    return f"+7912{random.randint(0, 9_999_999):07d}"


def make_settings(data_dir: Path, database_url: str, smtp_port: int | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        env="development",
        data_dir=data_dir,
        database_url=database_url,
        public_url=PUBLIC_URL,
        secret_key="test-secret-key-" + "x" * 32,
        smtp_url=f"smtp://127.0.0.1:{smtp_port}" if smtp_port else None,
        deliver_mail_in_process=False,
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a subprocess use the same configuration as the tests."""
    env = {
        "PORTAL_ENV": settings.env,
        "PORTAL_DATA_DIR": str(settings.data_dir),
        "PORTAL_DATABASE_URL": settings.database_url,
        "PORTAL_PUBLIC_URL": settings.public_url,
        "PORTAL_SECRET_KEY": settings.secret_key or "",
    }
    if settings.smtp_url:
        env["PORTAL_SMTP_URL"] = settings.smtp_url
    return env


def mailing_env(settings: Settings, smtp_port: int, **extra: str) -> dict[str, str]:
    """`settings_env` for a live server that delivers its letters itself, to the SMTP sink at `smtp_port`."""
    env = settings_env(settings) | {
        "PORTAL_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "PORTAL_DELIVER_MAIL_IN_PROCESS": "true",
    }
    return env | extra


# --- live servers ------------------------------------------------------------------------------------------

class LiveServer:
    def __init__(self, url: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.url = url
        self.process = process
        self.log = log


def start_live_server(env: dict[str, str], workdir: Path, *args: str, port: int | None = None) -> LiveServer:
    """Runs the real `portal serve` on a free port (or `port`) and waits until `/healthz` answers."""
    port = port or free_port()
    log = workdir / f"serve-{port}.log"
    portal = Path(sys.executable).parent / "portal"
    process = subprocess.Popen(  # noqa: S603
        [str(portal), "serve", "--port", str(port), *args],
        env={**os.environ, **env},
        cwd=workdir,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return started(process, f"http://127.0.0.1:{port}", log)


def started(process: subprocess.Popen[bytes], url: str, log: Path) -> LiveServer:
    """The server `process` runs at `url`, once `/healthz` answers; its log in the error if it exits or never does."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return LiveServer(url, process, log)
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the server did not start: {log.read_text()[-2000:]}")


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Asks a server to stop; kills it if it has not exited within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()


def stop_live_server(server: LiveServer) -> None:
    stop_process(server.process)


def local(live: LiveServer, link: str) -> str:
    """A mailed link (built from PORTAL_PUBLIC_URL) pointed at this test's server port."""
    parts = urlsplit(link)
    return live.url + parts.path + ("?" + parts.query if parts.query else "")


# --- GraphQL -----------------------------------------------------------------------------------------------

class GQL:
    """Posts one GraphQL operation and returns `data`, failing loudly on transport errors."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def raw(self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        return await self.client.post("/graphql", json={"query": query, "variables": variables or {}}, **kwargs)

    async def __call__(self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        response = await self.raw(query, variables, **kwargs)
        body = response.json()
        assert "errors" not in body, body
        assert response.status_code == 200, body
        return body["data"]


LOGIN = """
mutation($identifier: String!, $password: String!) {
  login(identifier: $identifier, password: $password) {
    __typename
    ... on LoginSuccess { session { accessToken refreshToken expiresAt account { id email phone login fullName role hasPassword } } }
    ... on Error { message }
    ... on TooManyAttempts { retryAfterSeconds }
    ... on ValidationError { fields { field code message } }
  }
}
"""


# What a browser adds to a fetch from one of the portal's own pages: only such a sign-in gets the session cookie.
SAME_ORIGIN = {"origin": PUBLIC_URL, "sec-fetch-site": "same-origin"}


async def sign_in(gql: GQL, identifier: str, password: str = PASSWORD, *, browser: bool = False) -> dict[str, Any]:
    """GraphQL `login`; `browser=True` sends it as a same-origin page would, so the client keeps the cookie."""
    headers = SAME_ORIGIN if browser else {}
    data = await gql(LOGIN, {"identifier": identifier, "password": password}, headers=headers)
    assert data["login"]["__typename"] == "LoginSuccess", data
    return data["login"]["session"]


def auth(session: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments that send a request with the session's bearer token."""
    return {"headers": {"Authorization": f"Bearer {session['accessToken']}"}}


def plausible_value(gtype: Any, every_field: bool = False) -> Any:
    """A made-up value of a GraphQL input type that passes validation (required fields only, unless `every_field`)."""
    if isinstance(gtype, GraphQLNonNull):
        return plausible_value(gtype.of_type, every_field)
    if isinstance(gtype, GraphQLList):
        return [plausible_value(gtype.of_type, every_field)]
    if isinstance(gtype, GraphQLEnumType):
        return next(iter(gtype.values))
    if isinstance(gtype, GraphQLInputObjectType):
        return {
            n: plausible_value(f.type, every_field)
            for n, f in gtype.fields.items()
            if every_field or isinstance(f.type, GraphQLNonNull)
        }
    assert isinstance(gtype, GraphQLScalarType)
    return {"ID": str(uuid.uuid4()), "Int": 1, "Float": 1.0, "Boolean": False}.get(gtype.name, "2026-000001")


# --- mail and reset ----------------------------------------------------------------------------------------

LINK_RE = re.compile(re.escape(PUBLIC_URL) + r"/reset-password\?token=([A-Za-z0-9_\-.~]+)")
_addresses = itertools.count(1)


async def drain(rt: Runtime) -> DeliveryReport:
    """Delivers everything due now (several rounds if needed) and sums the reports."""
    total = DeliveryReport()
    while True:
        report = await deliver_due(rt)
        for name in ("claimed", "sent", "retrying", "failed", "expired"):
            setattr(total, name, getattr(total, name) + getattr(report, name))
        if report.claimed < BATCH_SIZE:
            return total


def token_from(letter: Letter) -> str:
    found = LINK_RE.findall(letter.text)
    assert len(found) == 1, letter.text
    return str(found[0])


def new_address() -> str:
    """A client address of its own, so per-client throttles of one test never touch another."""
    n = next(_addresses)
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def client_at(app: Any, address: str | None = None) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address or new_address(), 40000))
    return httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL)


REQUEST = """
mutation($identifier: String!) { requestPasswordReset(identifier: $identifier) {
  __typename ... on Error { message } ... on TooManyAttempts { retryAfterSeconds }
  ... on PasswordResetRequested { message } ... on ValidationError { fields { field code } } } }
"""
RESET = """
mutation($token: String!, $p: String!, $c: String!) {
  resetPassword(token: $token, newPassword: $p, newPasswordConfirmation: $c) {
    __typename ... on Error { message } ... on PasswordResetSucceeded { message }
    ... on ValidationError { fields { field code } } ... on TooManyAttempts { retryAfterSeconds } } }
"""


async def request_reset(gql: GQL, identifier: str, **kwargs: Any) -> dict[str, Any]:
    data = await gql(REQUEST, {"identifier": identifier}, **kwargs)
    return dict(data["requestPasswordReset"])


async def reset(gql: GQL, token: str, password: str, confirmation: str | None = None) -> dict[str, Any]:
    data = await gql(RESET, {"token": token, "p": password, "c": password if confirmation is None else confirmation})
    return dict(data["resetPassword"])


# --- pages -------------------------------------------------------------------------------------------------

NEW_PASSWORD = "в лесу родилась ёлочка 2026"


def hidden(page: str, name: str) -> str:
    """The value of a page's hidden form field."""
    match = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', page)
    assert match, f"no hidden field {name}"
    return html.unescape(match.group(1))


async def csrf_of(client: httpx.AsyncClient, path: str) -> str:
    response = await client.get(path)
    assert response.status_code == 200, response.text[:500]
    return hidden(response.text, "csrf")


async def page_sign_in(
    client: httpx.AsyncClient, identifier: str, password: str = PASSWORD, **extra: str
) -> httpx.Response:
    token = await csrf_of(client, "/login")
    return await client.post("/login", data={"csrf": token, "identifier": identifier, "password": password, **extra})


# --- support and the staff desk ----------------------------------------------------------------------------

SUBMIT = """
mutation($input: SupportTicketInput!) {
  submitSupportTicket(input: $input) {
    __typename
    ... on SupportTicketSubmitted {
      accessKey
      ticket { number status category createdAt updatedAt messages { body createdAt } }
    }
    ... on ValidationError { message fields { field code message } }
    ... on TooManyAttempts { message retryAfterSeconds }
  }
}
"""


def form(**overrides: Any) -> dict[str, Any]:
    """The support form's input, filled as a resident who cannot sign in would; `overrides` replace fields."""
    values: dict[str, Any] = {
        "fullName": "Мария Ивановна Соколова",
        "registrationAddress": "г. Екатеринбург, ул. Ленина, д. 5, кв. 12",
        "phone": "8 912 345-67-89",
        "accountIdentifier": unique("maria.") + "@example.ru",
        "replyEmail": unique("reply") + "@example.ru",
        "description": "Не могу войти: забыла пароль,\nа почта, указанная в кабинете, больше не работает.",
        "personalDataConsent": True,
    }
    values.update(overrides)
    return values


async def anonymous_ticket(app: Any, **values: Any) -> tuple[str, str]:
    """A ticket filed through GraphQL by a resident who is not signed in; returns its number and access key."""
    fields = {"phone": random_phone(), "description": "Не могу войти: почта в кабинете больше не работает.", **values}
    async with client_at(app) as c:
        data = await GQL(c)(SUBMIT, {"input": form(**fields)})
    submitted = data["submitSupportTicket"]
    assert submitted["__typename"] == "SupportTicketSubmitted", submitted
    return submitted["ticket"]["number"], submitted["accessKey"]


async def staff_member(gql: GQL, make_account: Any, role: Role = Role.STAFF) -> tuple[Account, dict[str, Any]]:
    account = await make_account(role=role, full_name=f"Сотрудник {unique()}")
    return account, await sign_in(gql, account.email)


async def holding(account: Any) -> str:
    """A personal account from the registry, held by the account; returns its number."""
    from portal.models.residents import PersonalAccount

    number = "LS" + unique("")[-8:].upper().replace("-", "")
    pa = await PersonalAccount.create(number=number, address="г. Екатеринбург, ул. Ленина, д. 5, кв. 12",
                                      created_at=datetime.now(UTC), updated_at=datetime.now(UTC),
                                      claimed_at=datetime.now(UTC))
    await pa.holders.add(account)
    return number


DETAILS = """
query($n: String!) { supportTicketDetails(number: $n) { __typename
  ... on SupportTicketDetails { number status fullName registrationAddress phone accountIdentifier replyEmail
        description consentVersion personalAccountNumber personalAccountMatched assignedTo { id fullName } messages { body }
        history { fromStatus toStatus actorId publicMessage } notes { body author { id } }
        ownershipChecks { outcome evidence documents account { id email } staff { id } }
        recoveries { id kind status newEmail requestedById decidedById } }
  ... on Error { message } } }
"""
ASSIGN = """mutation($n: String!, $s: ID) { assignSupportTicket(number: $n, staffAccountId: $s) {
  __typename ... on SupportTicketUpdated { ticket { assignedTo { id } } } ... on ActionRefused { code } } }"""
STATUS = """mutation($n: String!, $s: TicketStatus!, $m: String) {
  changeSupportTicketStatus(number: $n, status: $s, publicMessage: $m) {
  __typename ... on SupportTicketUpdated { ticket { status } } ... on ActionRefused { code } } }"""
NOTE = """mutation($n: String!, $b: String!) { addSupportTicketNote(number: $n, body: $b) {
  __typename ... on TicketNoteAdded { note { body } } ... on ValidationError { fields { field code } } } }"""
VERIFY_OWNERSHIP = """mutation($n: String!, $a: String!, $e: [OwnershipEvidence!]!, $o: VerificationOutcome!, $d: String) {
  verifyTicketOwnership(number: $n, accountIdentifier: $a, evidence: $e, outcome: $o, documents: $d) {
  __typename ... on OwnershipRecorded { check { outcome evidence account { id } } }
  ... on ValidationError { fields { field code } } ... on Error { message } } }"""
SEND_RESET_LINK = """mutation($n: String!) { sendRecoveryResetLink(number: $n) { __typename
  ... on RecoveryUpdated { recovery { id kind status } } ... on ActionRefused { code } } }"""
EMAIL_CHANGE = """mutation($n: String!, $e: String) { requestRecoveryEmailChange(number: $n, newEmail: $e) {
  __typename ... on RecoveryUpdated { recovery { id kind status newEmail } } ... on ActionRefused { code }
  ... on ValidationError { fields { field code } } } }"""
APPROVE = """mutation($r: ID!) { approveRecoveryEmailChange(recoveryId: $r) { __typename
  ... on RecoveryUpdated { recovery { status decidedById } } ... on ActionRefused { code } } }"""
REJECT = """mutation($r: ID!) { rejectRecoveryEmailChange(recoveryId: $r) { __typename
  ... on RecoveryUpdated { recovery { status } } ... on ActionRefused { code } } }"""


# --- TOTP --------------------------------------------------------------------------------------------------

START_TOTP = "mutation { startTotpEnrollment { __typename ... on TotpEnrollmentStarted { secret otpauthUri } } }"
CONFIRM_TOTP = """
mutation($c: String!) { confirmTotpEnrollment(code: $c) {
  __typename ... on TotpEnabled { recoveryCodes } ... on ValidationError { fields { field code } } } }
"""


def settle(clock: Any) -> None:
    """Moves the test clock to 10 s into a 30-second step, so no step boundary falls inside one check."""
    clock.advance((10 - clock.now().timestamp() % 30) % 30)


def code_at(secret: str, clock: Any, offset_steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(clock.now().timestamp() + 30 * offset_steps)


async def enrol(app: Any, clock: Any, email: str) -> tuple[GQL, dict[str, str], str, list[str]]:
    """Signs in, turns TOTP on; returns the client, its bearer header, the secret and the recovery codes."""
    settle(clock)
    gql = GQL(client_at(app))
    bearer = {"Authorization": f"Bearer {(await sign_in(gql, email))['accessToken']}"}
    started = (await gql(START_TOTP, headers=bearer))["startTotpEnrollment"]
    assert started["__typename"] == "TotpEnrollmentStarted"
    secret = started["secret"]
    assert started["otpauthUri"].startswith("otpauth://totp/") and f"secret={secret}" in started["otpauthUri"]
    confirmed = await gql(CONFIRM_TOTP, {"c": code_at(secret, clock)}, headers=bearer)
    return gql, bearer, secret, confirmed["confirmTotpEnrollment"]["recoveryCodes"]


async def password_step(gql: GQL, email: str, password: str = PASSWORD) -> dict[str, Any]:
    """The password half of a sign-in that may ask for a second factor (its challenge and methods)."""
    data = (await gql(LOGIN.replace("__typename", "__typename ... on SecondFactorRequired { challenge methods }"),
                      {"identifier": email, "password": password}))["login"]
    return data


# --- the OpenID provider -----------------------------------------------------------------------------------

REDIRECT = "https://partner.example.com/callback"


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


async def partner(rt: Any, **kwargs: Any) -> tuple[str, str | None]:
    values: dict[str, Any] = dict(name="Платёжный сервис", redirect_uris=[REDIRECT])
    values.update(kwargs)
    new = await add_client(rt, **values)
    return new.client.id, new.secret


def auth_params(client_id: str, verifier: str, **extra: str) -> dict[str, str]:
    params = dict(
        response_type="code",
        client_id=client_id,
        redirect_uri=REDIRECT,
        scope="openid profile email phone offline_access",
        state=new_token(),
        nonce=new_token(),
        code_challenge=s256(verifier),
        code_challenge_method="S256",
    )
    params.update(extra)
    return params


def query_of(response: httpx.Response) -> dict[str, str]:
    location = response.headers["location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def signed_in(client: httpx.AsyncClient, gql: Any, make_account: Any) -> Any:
    account = await make_account(phone=None)
    await sign_in(gql, account.email, browser=True)  # a same-origin page's login: the session cookie on `client`
    return account


async def get_code(client: httpx.AsyncClient, params: dict[str, str]) -> dict[str, str]:
    """Authorize, consent if asked, and return the redirect's query (code, state, iss)."""
    response = await client.get("/oauth/authorize", params=params)
    if response.status_code == 200:  # the consent page
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        form = dict(request=hidden(response.text, "request"), csrf=hidden(response.text, "csrf"), decision="allow")
        response = await client.post("/oauth/authorize", data=form)
        assert response.status_code == 303, response.text
    assert response.status_code in (302, 303), response.text
    assert response.headers["location"].startswith(REDIRECT + "?")
    return query_of(response)


async def exchange(
    client: httpx.AsyncClient, client_id: str, secret: str | None, code: str, verifier: str
) -> httpx.Response:
    data = dict(grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=verifier)
    basic = (client_id, secret) if secret else None
    if not secret:
        data["client_id"] = client_id
    return await client.post("/oauth/token", data=data, auth=basic)


async def userinfo(client: httpx.AsyncClient, access_token: str) -> httpx.Response:
    return await client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {access_token}"})


# --- the HTTP surface --------------------------------------------------------------------------------------

def random_ip() -> str:
    """An address in the shared address space (RFC 6598): other tests speak from 127.0.0.1 and 10.x."""
    return f"100.{random.randint(64, 127)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


class Surface:
    """An app over its own runtime (own throttle store), spoken to from any address (a random one by default),
    so counters prove whether an operation ran."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.app = create_app(runtime=rt, manage_database=False)

    def client(self, ip: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(ip or random_ip(), 40000))
        return httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL, **kwargs)

    async def post(self, body: Any, ip: str | None = None, **kwargs: Any) -> httpx.Response:
        async with self.client(ip) as c:
            return await c.post("/graphql", json=body, **kwargs)

    async def failures(self, account: Any) -> int:
        return await self.rt.throttle.failures(SIGNIN_BACKOFF, account_key(account.id, "email"))


# --- the residents' registry -------------------------------------------------------------------------------

REGISTRY_PASSWORD = "тихий вечер над рекой 2026"
RU_HEADER = ["Лицевой счёт", "ФИО", "Адрес", "E-mail", "Телефон", "Площадь", "Доля"]


def portal(settings: Any, *args: str) -> subprocess.CompletedProcess[str]:
    """Runs the `portal` command with the tests' configuration."""
    return subprocess.run(  # noqa: S603
        [str(Path(sys.executable).parent / "portal"), *args],
        env={**settings_env(settings), "PATH": "/usr/bin:/bin"}, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )


def resident_rows(count: int) -> list[list[str]]:
    """Rows of a registry: unique numbers, Cyrillic names and addresses, e-mails and phones."""
    prefix = unique("")[-6:].upper()
    return [
        [f"{prefix}{i:04d}", f"Соколова Мария Ивановна {i}", f"г. Екатеринбург, ул. Ленина, д. 5, кв. {i}",
         f"{unique('m')}@example.ru", random_phone(), "54,3", "1/2"]
        for i in range(1, count + 1)
    ]


async def codes_for(settings: Any, tmp_path: Path, *extra: str) -> dict[str, str]:
    """Runs `portal residents activation-codes --unclaimed -o FILE` and reads the file back: number -> code."""
    out = tmp_path / f"{unique('codes')}.csv"
    result = portal(settings, "residents", "activation-codes", "--unclaimed", "-o", str(out), *extra)
    assert result.returncode == 0, result.stderr
    with out.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    return {r["personal_account"]: r["code"] for r in rows}


# --- Chromium ----------------------------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
CHROMIUM_PRESENT = CHROMIUM.exists()
ARTIFACTS = ROOT / "test-artifacts" / "pages"
PHONE = {"width": 360, "height": 740}
RESET_LINK = re.compile(r"https?://[^\s/]+/reset-password\?token=[A-Za-z0-9_.~-]+")


def need_chromium() -> None:
    """Skips (fails under CI) without Chromium at /usr/bin/chromium or Playwright for Python."""
    need_service(CHROMIUM_PRESENT, f"Chromium is not installed at {CHROMIUM} (Debian package `chromium`)")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        need_service(False, "Playwright for Python is not installed (pip install -e '.[test]')")


async def shot(page: Any, name: str) -> None:
    """A full-page screenshot under test-artifacts/pages/."""
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
