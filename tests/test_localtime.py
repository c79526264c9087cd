"""Times shown to residents (pages and letters) are in PORTAL_TIMEZONE with the zone named; a bad zone stops start-up."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from tortoise.transactions import in_transaction

from portal.api import cli
from portal.api.app import create_app
from portal.core.localtime import format_local
from portal.core.runtime import Runtime
from portal.core.settings import Settings, SettingsError, load_settings
from portal.mail.outbox import enqueue
from portal.mail.render import render
from portal.models.accounts import Account
from tests.helpers import PUBLIC_URL, drain, new_address, page_sign_in, unique

INSTANT = datetime(2026, 11, 25, 18, 46, tzinfo=UTC)  # 21:46 in Moscow, 23:46 in Yekaterinburg
MOSCOW_RU = "25 нояб. 2026 г., 21:46 (МСК)"
MOSCOW_EN = "25 Nov 2026, 21:46 (UTC+03:00)"


def with_zone(rt: Runtime, zone: str) -> Runtime:
    """The same database, secret and clock with another PORTAL_TIMEZONE."""
    return Runtime(Settings(_env_file=None, **{**rt.settings.model_dump(), "timezone": zone}), rt.clock)  # type: ignore[call-arg]


def test_the_default_zone_is_moscow_and_offsets_name_other_zones(settings):
    assert settings.timezone == "Europe/Moscow"
    assert format_local(INSTANT, settings.zone, "ru") == MOSCOW_RU
    assert format_local(INSTANT, settings.zone, "en") == MOSCOW_EN
    assert format_local(INSTANT.replace(tzinfo=None), settings.zone, "ru") == MOSCOW_RU  # naive means UTC
    berlin = with_zone(Runtime(settings), "Europe/Berlin").settings.zone
    assert format_local(INSTANT, berlin, "en") == "25 Nov 2026, 19:46 (UTC+01:00)"
    assert format_local(datetime(2026, 1, 1, 3, 30, tzinfo=UTC), berlin, "ru") == "1 янв. 2026 г., 04:30 (UTC+01:00)"
    new_york = with_zone(Runtime(settings), "America/New_York").settings.zone
    assert format_local(datetime(2026, 3, 1, 2, 5, tzinfo=UTC), new_york, "en") == "28 Feb 2026, 21:05 (UTC-05:00)"


@pytest.mark.parametrize("name", ["Mars/Olympus", "MSK+3", "../../etc/passwd", ""])
def test_a_bad_zone_name_is_a_settings_error_naming_the_variable(name, monkeypatch):
    monkeypatch.setenv("PORTAL_TIMEZONE", name)
    with pytest.raises(SettingsError, match=r"PORTAL_TIMEZONE: .*not an IANA time zone name"):
        load_settings(_env_file=None)


def test_the_command_line_refuses_to_start_with_a_bad_zone(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PORTAL_TIMEZONE", "Europe/Moskva")
    monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PORTAL_DATABASE_URL", f"sqlite://{tmp_path}/never.sqlite3")
    assert cli.main(["migrate"]) != 0
    assert (
        "configuration error: PORTAL_TIMEZONE: 'Europe/Moskva' is not an IANA time zone name" in capsys.readouterr().err
    )
    assert not (tmp_path / "never.sqlite3").exists()


async def account_page(app, identifier: str, lang: str = "ru") -> str:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app, client=(new_address(), 40000))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as browser:
        assert (await page_sign_in(browser, identifier)).status_code == 303
        response = await browser.get("/account", params={"lang": lang}, follow_redirects=True)
        assert response.status_code == 200
        return response.text


async def test_the_account_page_shows_password_changed_in_the_portal_zone(app, rt, make_account):
    account = await make_account()
    await Account.filter(id=account.id).update(password_changed_at=INSTANT)
    page = await account_page(app, account.email)
    assert f'<time datetime="{INSTANT.isoformat()}">{MOSCOW_RU}</time>' in page  # machine-readable UTC beside it
    assert "UTC</time>" not in page
    assert MOSCOW_EN in await account_page(app, account.email, "en")

    elsewhere = create_app(runtime=with_zone(rt, "Asia/Yekaterinburg"), manage_database=False)
    page = await account_page(elsewhere, account.email)
    assert "25 нояб. 2026 г., 23:46 (UTC+05:00)" in page and MOSCOW_RU not in page


def letter_text(settings: Settings, lang: str) -> str:
    msg = render(
        settings,
        template="password_changed",
        to="resident@example.org",
        lang=lang,
        context={"full_name": "Анна", "changed_at": INSTANT.isoformat(), "forgot_url": PUBLIC_URL + "/forgot"},
        msg_id="<test@127.0.0.1>",
        now=INSTANT,
    )
    parts = [part.get_content() for part in msg.iter_parts()]
    assert all("18:46" not in part for part in parts)
    return "\n".join(parts)


async def test_the_password_changed_letter_says_when_in_the_portal_zone(rt, smtp_sink):
    to = f"{unique('when')}@example.org"
    async with in_transaction():
        await enqueue(
            rt, template="password_changed", to=to, lang="ru", context={"changed_at": INSTANT, "full_name": "Анна"}
        )
    await drain(rt)
    letter = (await smtp_sink.wait_for(to))[0]
    assert f"изменён {MOSCOW_RU}" in letter.text and MOSCOW_RU in letter.html

    assert MOSCOW_EN in letter_text(rt.settings, "en")
    text = letter_text(with_zone(rt, "Asia/Vladivostok").settings, "ru")
    assert "26 нояб. 2026 г., 04:46 (UTC+10:00)" in text and MOSCOW_RU not in text
