"""Shared fixtures: a real database (SQLite file or PostgreSQL), a real SMTP sink, the app over httpx.

`PORTAL_TEST_DATABASE_URL` selects PostgreSQL (CI sets it); without it a fresh SQLite file is used.
`PORTAL_TEST_REQUIRE_SERVICES=1` (CI) turns every "service absent" skip into a failure.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from portal.api import db
from portal.api.app import create_app
from portal.core.clock import OffsetClock
from portal.core.runtime import Runtime
from portal.core.settings import Settings
from tests.smtp_sink import SmtpSink

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_SERVICES = os.environ.get("PORTAL_TEST_REQUIRE_SERVICES") == "1"
PUBLIC_URL = "http://127.0.0.1:8000"


def need_service(available: bool, reason: str) -> None:
    """Skip with a clear reason where a service is absent; under CI a missing service is a failure."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing under CI: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unique(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def database_url(data_dir: Path) -> str:
    return os.environ.get("PORTAL_TEST_DATABASE_URL") or f"sqlite://{data_dir}/portal.sqlite3"


@pytest.fixture(scope="session")
def on_postgres(database_url: str) -> bool:
    return database_url.startswith(("postgres://", "postgresql://", "asyncpg://"))


@pytest.fixture(scope="session")
async def smtp_sink() -> AsyncIterator[SmtpSink]:
    sink = SmtpSink(port=free_port())
    sink.start()
    yield sink
    sink.stop()


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


@pytest.fixture(scope="session")
async def settings(data_dir: Path, database_url: str, smtp_sink: SmtpSink) -> Settings:
    return make_settings(data_dir, database_url, smtp_sink.port)


@pytest.fixture(scope="session")
async def database(settings: Settings) -> AsyncIterator[None]:
    """Migrations applied once, by the same code as `portal migrate`, then one connection for the run."""
    await db.migrate(settings)
    await db.connect(settings)
    yield
    await db.disconnect()


@pytest.fixture(scope="session")
def clock() -> OffsetClock:
    return OffsetClock()


@pytest.fixture(scope="session")
async def rt(settings: Settings, clock: OffsetClock, database: None) -> Runtime:
    return Runtime(settings, clock)


@pytest.fixture(autouse=True)
def _reset_clock(clock: OffsetClock) -> Iterator[None]:
    yield
    clock.offset = type(clock.offset)(0)


@pytest.fixture(scope="session")
async def app(rt: Runtime) -> Any:
    return create_app(runtime=rt, manage_database=False)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as c:
        yield c


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


@pytest.fixture
def gql(client: httpx.AsyncClient) -> GQL:
    return GQL(client)


PASSWORD = "correct horse battery staple"


@pytest.fixture
async def make_account(rt: Runtime):  # type: ignore[no-untyped-def]
    """Creates a local account through the same service as the CLI."""
    from portal.identity.accounts import NewAccount, create_account
    from portal.models.accounts import Account

    async def make(**fields: Any) -> Account:
        name = unique("r")
        values: dict[str, Any] = dict(full_name="Иван Петров", email=f"{name}@example.ru", password=PASSWORD)
        values.update(fields)
        result = await create_account(rt, NewAccount(**values))
        assert isinstance(result, Account), result
        return result

    return make


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
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"portal serve exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return LiveServer(url, process, log)
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"portal serve did not start: {log.read_text()[-2000:]}")


def stop_live_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()


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


def run(coro: Any) -> Any:
    return asyncio.get_event_loop().run_until_complete(coro)
