"""Shared fixtures: a real database (SQLite file or PostgreSQL), a real SMTP sink, the app over httpx, Chromium.

`PORTAL_TEST_DATABASE_URL` selects PostgreSQL (CI sets it); without it a fresh SQLite file is used.
`PORTAL_TEST_REQUIRE_SERVICES=1` (CI) turns every "service absent" skip into a failure.
Plain helpers (constants, settings, live servers, GraphQL, mail) are in tests/helpers.py.
"""

from __future__ import annotations

import os
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
from tests.helpers import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    GQL,
    PASSWORD,
    PHONE,
    PUBLIC_URL,
    LiveServer,
    client_at,
    free_port,
    mailing_env,
    make_settings,
    need_chromium,
    start_live_server,
    stop_live_server,
    unique,
)
from tests.smtp_sink import SmtpSink


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


@pytest.fixture
async def page_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A browser with an address of its own: per-client throttles of one test never touch another."""
    async with client_at(app) as c:
        yield c


@pytest.fixture
def gql(client: httpx.AsyncClient) -> GQL:
    return GQL(client)


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


# --- browser journeys: a real `portal serve`, headless Chromium, a phone-sized profile ---------------------

@pytest.fixture(scope="module")
async def live(
    settings: Settings, smtp_sink: SmtpSink, database: None, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveServer]:
    """The real `portal serve` for a browser test module, delivering its own letters to the SMTP sink."""
    need_chromium()
    server = start_live_server(mailing_env(settings, smtp_sink.port), tmp_path_factory.mktemp("browser"))
    yield server
    stop_live_server(server)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    """Headless Chromium through Playwright, one per module."""
    need_chromium()
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture
async def phone(browser: Any) -> AsyncIterator[Any]:
    """A fresh browser profile the size of a small phone, Russian first; fails the test on any script or CSP error."""
    context = await browser.new_context(viewport=PHONE, locale="ru-RU", has_touch=True)
    page = await context.new_page()
    problems: list[str] = []
    # A 4xx document (a refused sign-in, a form with errors) is expected; a failing asset or script is not.
    page.on(
        "console",
        lambda m: problems.append(m.text)
        if m.type == "error" and not m.text.startswith("Failed to load resource: the server responded")
        else None,
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on(
        "response",
        lambda r: problems.append(f"{r.status} {r.url}")
        if r.status >= 400 and r.request.resource_type != "document"
        else None,
    )
    yield page
    await context.close()
    assert problems == [], problems
