"""The resident's own security in headless Chromium against a real `portal serve` (issue 16).

Passkeys with Chromium's virtual authenticator (DevTools Protocol `WebAuthn.*` through Playwright's CDP
session; WebAuthn needs a secure context, so this server's PORTAL_PUBLIC_URL is http://localhost:PORT);
TOTP enrolment and the reset journey of a resident with TOTP; the e-mail change through both letters,
"this was not me" included; axe-core (tests/node) on every new page: no WCAG 2.1 AA violation.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pyotp
import pytest

from portal.models.accounts import Account
from tests.helpers import (
    ARTIFACTS,
    NEW_PASSWORD,
    PASSWORD,
    PHONE,
    ROOT,
    LiveServer,
    free_port,
    local,
    mailing_env,
    need_chromium,
    need_service,
    start_live_server,
    stop_live_server,
    unique,
)

AXE = ROOT / "tests" / "node" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.fixture(scope="module")
async def live(settings: Any, smtp_sink: Any, database: None, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    """This module's own server: WebAuthn needs a secure context, and http://localhost is one."""
    need_chromium()
    need_service(AXE.exists(), "axe-core is not installed (cd tests/node && npm ci)")
    port = free_port()
    env = mailing_env(settings, smtp_sink.port, PORTAL_PUBLIC_URL=f"http://localhost:{port}")
    server = start_live_server(env, tmp_path_factory.mktemp("security-browser"), port=port)
    server.url = f"http://localhost:{port}"
    yield server
    stop_live_server(server)


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    """A phone-sized profile; axe is injected by the test (bypass_csp only lets axe's own script in)."""
    context = await browser.new_context(viewport=PHONE, locale="ru-RU", bypass_csp=True)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    await context.close()
    assert errors == [], errors


async def axe_check(page: Any, name: str) -> None:
    """No WCAG 2.1 A/AA violation on the page as it is now; a screenshot for people to look at."""
    await page.screenshot(path=str(ARTIFACTS / f"security-{name}.png"), full_page=True)
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}})).violations"
        ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))",
        WCAG_AA,
    )
    assert result == [], f"{name}: {result}"


async def sign_in(page: Any, live: LiveServer, identifier: str, password: str = PASSWORD) -> None:
    await page.goto(live.url + "/login")
    await page.get_by_label("Электронная почта, телефон или логин").fill(identifier)
    await page.get_by_label("Пароль", exact=True).fill(password)
    await page.get_by_role("button", name="Войти", exact=True).click()


VIRTUAL_AUTHENTICATOR = {
    "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
    "isUserVerified": True, "automaticPresenceSimulation": True,
}
# Chromium's virtual authenticator answers the autofill (conditional) request at once, as if the resident
# picked the passkey from the list; this page leaves autofill out to exercise the button.
NO_AUTOFILL = "PublicKeyCredential.isConditionalMediationAvailable = async () => false;"


async def authenticator(page: Any) -> tuple[Any, str]:
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("WebAuthn.enable", {"enableUI": False})
    added = await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": VIRTUAL_AUTHENTICATOR})
    return cdp, added["authenticatorId"]


async def sign_out(page: Any, live: LiveServer) -> None:
    await page.goto(live.url + "/account")
    await page.get_by_role("button", name="Выйти", exact=True).click()
    await page.wait_for_url("**/login?notice=signed-out")


async def test_passkey_added_used_to_sign_in_and_removed(live, browser, page, make_account):
    account = await make_account(full_name="Ольга Николаевна Белова")
    await page.add_init_script(NO_AUTOFILL)
    cdp, authenticator_id = await authenticator(page)

    await sign_in(page, live, account.email)
    await page.wait_for_url("**/account")
    await page.get_by_role("link", name="Настроить").nth(1).click()
    await page.wait_for_url("**/account/passkeys")
    await axe_check(page, "passkeys-empty")
    await page.get_by_label("Название нового ключа").fill("Телефон Ольги")
    await page.get_by_role("button", name="Добавить ключ доступа").click()
    await page.get_by_text("Ключ доступа добавлен.").wait_for()
    assert "Телефон Ольги" in await page.locator("#passkeys").inner_text()
    credentials = (await cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id}))["credentials"]
    assert len(credentials) == 1 and credentials[0]["isResidentCredential"]
    await axe_check(page, "passkeys-one")

    # Signed out, then in with the passkey button alone: no identifier, no password, no code.
    await sign_out(page, live)
    assert await page.get_attribute("#f-identifier", "autocomplete") == "username webauthn"
    await page.get_by_role("button", name="Войти с ключом доступа").click()
    await page.wait_for_url("**/account")
    assert await page.locator('[data-action="passkey.added"]').count() == 1
    await page.goto(live.url + "/account/passkeys")
    assert "последний вход" in await page.locator("#passkeys").inner_text()

    # Another browser holding the same passkey signs in through the identifier field's autofill.
    other = await browser.new_context(viewport=PHONE, locale="ru-RU")
    try:
        second = await other.new_page()
        other_cdp, other_id = await authenticator(second)
        await other_cdp.send("WebAuthn.addCredential", {"authenticatorId": other_id, "credential": credentials[0]})
        await second.goto(live.url + "/login")
        await second.wait_for_url("**/account")
    finally:
        await other.close()

    # Removed (the passkey sign-in was a fresh proof), it no longer signs in.
    await page.get_by_role("button", name="Удалить").click()
    await page.get_by_text("Ключ доступа удалён.").wait_for()
    assert await page.locator("#passkeys").count() == 0
    await sign_out(page, live)
    await page.get_by_role("button", name="Войти с ключом доступа").click()
    await page.get_by_text("Не удалось войти с ключом доступа").wait_for()


async def test_totp_enrolment_then_the_reset_journey_still_asks_for_the_code(live, page, smtp_sink, make_account):
    account = await make_account(full_name="Пётр Ильич Орлов")
    await sign_in(page, live, account.email)
    await page.wait_for_url("**/account")
    await page.goto(live.url + "/account/two-factor")
    await axe_check(page, "two-factor-off")
    await page.get_by_role("button", name="Включить").click()
    await page.get_by_role("heading", name="Подключение приложения").wait_for()
    assert await page.get_by_role("img", name="QR-код для приложения-аутентификатора").count() == 1
    await axe_check(page, "totp-setup")
    secret = (await page.locator("#totp-secret").inner_text()).strip()
    await page.get_by_label("Код из приложения").fill(pyotp.TOTP(secret).now())
    await page.get_by_role("button", name="Включить").click()
    await page.get_by_role("heading", name="Резервные коды").wait_for()
    codes = [c.strip() for c in await page.locator("#recovery-codes code").all_inner_texts()]
    assert len(codes) == 10
    await axe_check(page, "recovery-codes")
    await page.goto(live.url + "/account/two-factor")
    await axe_check(page, "two-factor-on")

    # Forgot the password: the reset works, and the second factor is still asked afterwards.
    await page.goto(live.url + "/account")
    await page.get_by_role("button", name="Выйти", exact=True).click()
    await page.goto(live.url + "/forgot-password")
    await page.get_by_label("Электронная почта, телефон или логин").fill(account.email)
    await page.get_by_role("button", name="Получить ссылку").click()
    await page.get_by_role("heading", name="Проверьте почту").wait_for()
    letters = await smtp_sink.wait_for(account.email, 2, timeout=20)
    link = re.search(r"https?://\S+/reset-password\?token=\S+", letters[-1].text).group(0)
    await page.goto(local(live, link))
    await page.get_by_label("Новый пароль", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("Повторите новый пароль").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Сохранить пароль").click()
    await page.get_by_role("heading", name="Пароль изменён").wait_for()
    await sign_in(page, live, account.email, NEW_PASSWORD)
    await page.get_by_role("heading", name="Код подтверждения").wait_for()
    await axe_check(page, "login-code")
    await page.get_by_label("Код", exact=True).fill("000000")
    await page.get_by_role("button", name="Подтвердить и войти").click()
    await page.locator("#e-code").wait_for()
    await page.get_by_label("Код", exact=True).fill(codes[0])
    await page.get_by_role("button", name="Подтвердить и войти").click()
    await page.wait_for_url("**/account")


async def test_email_change_through_both_letters_and_this_was_not_me(live, page, smtp_sink, make_account):
    account = await make_account(full_name="Анна Павловна Зуева")
    old = account.email
    await sign_in(page, live, old)
    await page.wait_for_url("**/account")
    await axe_check(page, "account")
    await page.get_by_role("link", name="Сменить пароль").click()
    await axe_check(page, "password")
    await page.goto(live.url + "/account/reauth?next=/account/email")
    await axe_check(page, "reauth")
    await page.goto(live.url + "/account")
    await page.get_by_role("link", name="Сменить почту").click()
    await page.wait_for_url("**/account/email")
    await axe_check(page, "email")
    new = f"{unique('anna')}@example.ru"
    await page.get_by_label("Новый адрес почты").fill(new)
    await page.get_by_label("Текущий пароль").fill(PASSWORD)
    await page.get_by_role("button", name="Отправить ссылку").click()
    await page.wait_for_url("**/account?notice=email-change-sent")
    assert new in await page.locator("[data-pending-email]").inner_text()

    # The letter to the new address: opening the link shows a button; pressing it changes the address.
    confirm = re.search(r"https?://\S+/confirm-email\?token=\S+", (await smtp_sink.wait_for(new, timeout=20))[-1].text)
    await page.goto(local(live, confirm.group(0)))
    await axe_check(page, "confirm-email")
    assert (await Account.get(id=account.id)).email == old
    await page.get_by_role("button", name="Подтвердить адрес").click()
    await page.get_by_role("heading", name="Адрес подтверждён").wait_for()
    await axe_check(page, "confirm-email-done")
    assert (await Account.get(id=account.id)).email == new

    # The letter the old address got at once: "this was not me" undoes it and ends every session.
    notice = (await smtp_sink.wait_for(old, timeout=20))[-1]
    cancel = re.search(r"https?://\S+/cancel-email-change\?token=\S+", notice.text)
    await page.goto(local(live, cancel.group(0)))
    await axe_check(page, "cancel-email")
    await page.get_by_role("button", name="Отменить смену и выйти везде").click()
    await page.get_by_role("heading", name="Смена адреса отменена").wait_for()
    assert (await Account.get(id=account.id)).email == old
    await page.goto(live.url + "/account")
    await page.wait_for_url("**/login**")
    await axe_check(page, "login")
