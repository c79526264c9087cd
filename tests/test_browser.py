"""The residents' pages in headless Chromium (Debian's `chromium`, driven by Playwright) against a real `portal serve`.

The journeys of the seed: a forgotten password restored through the mailed link, a support request, the
language switch. Each page is saved as a screenshot under test-artifacts/pages/ (360 px wide, a phone).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from portal.models.support import Ticket, TicketStatus
from portal.support.tickets.status import change_status
from tests.helpers import (
    LOGIN,
    NEW_PASSWORD,
    PASSWORD,
    PHONE,
    RESET_LINK,
    LiveServer,
    free_port,
    local,
    settings_env,
    shot,
    start_live_server,
    stop_live_server,
    unique,
)

STAFF_MESSAGE = "Здравствуйте! Проверили данные, пришлите, пожалуйста, фото первой страницы паспорта."


async def test_seed_journey_forgotten_password(live, phone, smtp_sink, make_account):
    page = phone
    account = await make_account(full_name="Мария Ивановна Смирнова", login=unique("maria"))

    # 1. Sign-in fails: the password is forgotten.
    await page.goto(live.url + "/login")
    await shot(page, "01-login")
    await page.get_by_label("Электронная почта, телефон или логин").fill(account.email)
    await page.get_by_label("Пароль", exact=True).fill("мой старый пароль наверное")
    await page.get_by_role("button", name="Войти", exact=True).click()
    alert = page.get_by_role("alert")
    await alert.wait_for()
    assert "Неверный логин или пароль." in await alert.inner_text()
    assert await page.get_by_label("Электронная почта, телефон или логин").input_value() == account.email
    assert await page.get_by_label("Пароль", exact=True).input_value() == ""
    assert await page.evaluate("document.activeElement.id") == "error-summary"  # the summary took focus
    await shot(page, "02-login-failed")

    # 2. «Забыли пароль?» right under the password field.
    await page.get_by_role("link", name="Забыли пароль?").click()
    await page.wait_for_url("**/forgot-password")
    await shot(page, "03-forgot-password")
    await page.get_by_label("Электронная почта, телефон или логин").fill(account.email.upper())
    await page.get_by_role("button", name="Получить ссылку").click()
    await page.get_by_role("heading", name="Проверьте почту").wait_for()
    assert "«Спам»" in await page.content()
    await shot(page, "04-forgot-password-sent")

    # 3. The letter arrives in the SMTP sink; its link opens the reset page (opening spends nothing).
    letters = await smtp_sink.wait_for(account.email, timeout=20)
    link = RESET_LINK.search(letters[-1].text)
    assert link, letters[-1].text
    reset_url = local(live, link.group(0))
    token = reset_url.rsplit("=", 1)[1]
    response = await page.goto(reset_url)
    assert response.headers["referrer-policy"] == "no-referrer"
    # docs/security.md #52: the token left the address bar at once (a 303 to a clean URL); nothing in history holds it.
    assert page.url == live.url + "/reset-password", page.url
    await page.reload()
    assert token not in page.url and token not in await page.content()
    await page.go_back()
    assert page.url.endswith("/forgot-password?sent=1"), page.url  # the entry before is the "sent" page
    await page.go_forward()
    assert page.url == live.url + "/reset-password"  # forward again: the clean URL, never the token's
    policy = await page.locator("#password-policy").inner_text()
    assert "Не короче 12 символов." in policy
    await shot(page, "05-reset-password")

    # 4. A mismatched confirmation: the error is next to the confirmation field, the token still works.
    await page.get_by_label("Новый пароль", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("Повторите новый пароль").fill(NEW_PASSWORD + "!")
    await page.get_by_role("button", name="Сохранить пароль").click()
    error = page.locator("#e-newPasswordConfirmation")
    await error.wait_for()
    assert "Пароли не совпадают." in await error.inner_text()
    confirmation = page.get_by_label("Повторите новый пароль")
    assert await confirmation.get_attribute("aria-invalid") == "true"
    assert "e-newPasswordConfirmation" in (await confirmation.get_attribute("aria-describedby") or "")
    await shot(page, "06-reset-password-mismatch")

    # 5. The new password, then the success page with a way to sign in.
    await page.get_by_label("Новый пароль", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("Повторите новый пароль").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Сохранить пароль").click()
    await page.get_by_role("heading", name="Пароль изменён").wait_for()
    await shot(page, "07-reset-password-done")
    await page.get_by_role("link", name="Войти с новым паролем").click()
    await page.wait_for_url("**/login")

    # 6. Sign in with the new password; the account page shows the password change.
    await page.get_by_label("Электронная почта, телефон или логин").fill(account.login)
    await page.get_by_label("Пароль", exact=True).fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Войти", exact=True).click()
    await page.wait_for_url("**/account")
    await page.get_by_role("heading", name="Личный кабинет").wait_for()
    events = page.locator('[data-action="password.reset"]')
    assert await events.count() == 1
    assert "Пароль изменён по ссылке из письма" in await events.first.inner_text()

    # 7. Another device signs in; "sign out of all other devices" ends it at once.
    iphone = {"User-Agent": "Mozilla/5.0 (iPhone) Safari/604.1"}
    async with httpx.AsyncClient(base_url=live.url, headers=iphone) as other:
        variables = {"identifier": account.email, "password": NEW_PASSWORD}
        data = (await other.post("/graphql", json={"query": LOGIN, "variables": variables})).json()
        other_token = data["data"]["login"]["session"]["accessToken"]
        await page.reload()
        assert await page.locator(".row--current").count() == 1
        assert "Safari, iPhone" in await page.content()
        await shot(page, "08-account")
        await page.get_by_role("button", name="Выйти на всех других устройствах").click()
        await page.get_by_text("Готово: вы вышли на всех других устройствах.").wait_for()
        await shot(page, "09-account-others-signed-out")
        me = await other.post(
            "/graphql", json={"query": "{ me { id } }"}, headers={"Authorization": f"Bearer {other_token}"}
        )
        assert me.json()["data"]["me"] is None

    # 8. Sign out.
    await page.get_by_role("button", name="Выйти", exact=True).click()
    await page.wait_for_url("**/login?notice=signed-out")
    assert "Вы вышли из личного кабинета." in await page.content()


async def test_support_journey(live, phone, smtp_sink, rt):
    page = phone
    reply = f"{unique('reply')}@example.ru"
    await page.goto(live.url + "/support")
    await shot(page, "10-support")
    await page.get_by_label("ФИО").fill("Петров Иван Сергеевич")
    await page.get_by_label("Адрес регистрации").fill("г. Пермь, ул. Ленина, д. 10, кв. 5")
    await page.get_by_label("Телефон").fill("12-34")
    await page.get_by_label("Логин или почта от личного кабинета").fill("ivan.petrov")
    await page.get_by_label("Почта для ответа").fill(reply)
    await page.get_by_label("Тема").select_option(label="Доступ к личному кабинету")
    await page.get_by_label("Что случилось").fill("Не могу войти: почта старая, доступа к ней нет.")
    await page.get_by_role("button", name="Отправить обращение").click()

    summary = page.get_by_role("alert")
    await summary.wait_for()
    text = await summary.inner_text()
    assert "Телефон" in text and "Нужно согласие на обработку персональных данных." in text
    assert await page.get_by_label("ФИО").input_value() == "Петров Иван Сергеевич"  # nothing typed is lost
    await shot(page, "11-support-errors")

    await page.get_by_label("Телефон").fill("+7 912 345-67-89")
    await page.get_by_label("Согласен(на) на обработку персональных данных").check()
    await page.get_by_role("button", name="Отправить обращение").click()
    await page.get_by_role("heading", name="Обращение принято").wait_for()
    number = (await page.locator("#ticket-number").inner_text()).strip()
    assert re.fullmatch(r"\d{4}-\d{6,}", number)
    assert "Сохраните номер" in await page.content()
    await shot(page, "12-support-accepted")

    status_link = (await page.locator("#status-link").inner_text()).strip()
    letters = await smtp_sink.wait_for(reply, timeout=20)
    assert number in letters[-1].text
    await page.goto(local(live, status_link))
    await page.get_by_role("heading", name=f"Обращение № {number}").wait_for()
    assert page.url == f"{live.url}/support/status?number={number}", page.url  # the key left the address bar
    assert await page.locator("[data-status]").inner_text() == "Новое"

    # Staff take it up and write to the resident (the desk's service); the status page shows both.
    ticket = await Ticket.get(number=number)
    await change_status(rt, ticket, TicketStatus.IN_PROGRESS, actor_id=None, public_message=STAFF_MESSAGE)
    await page.reload()
    assert await page.locator("[data-status]").inner_text() == "В работе"
    assert STAFF_MESSAGE in await page.locator(".messages").inner_text()
    await shot(page, "13-support-status")

    await page.goto(live.url + "/support/status?number=" + number + "&key=wrong")
    assert "Обращение не найдено." in await page.content()
    await shot(page, "14-support-status-not-found")

    # The look-up form (a plain GET form) opens the same ticket from the number and key.
    key = re.search(r"key=([^&]+)", status_link).group(1)  # type: ignore[union-attr]
    await page.goto(live.url + "/support/status")
    await page.get_by_label("Номер обращения").fill(number)
    await page.get_by_label("Ключ доступа").fill(key)
    await page.get_by_role("button", name="Показать статус").click()
    await page.get_by_role("heading", name=f"Обращение № {number}").wait_for()


async def test_language_switch_is_remembered(live, phone):
    page = phone
    await page.goto(live.url + "/login?next=/account")
    assert await page.get_attribute("html", "lang") == "ru"
    await page.get_by_role("link", name="English").click()
    await page.get_by_role("heading", name="Sign in to your account").wait_for()
    assert page.url.endswith("/login?next=%2Faccount")
    assert await page.get_attribute("html", "lang") == "en"
    await shot(page, "20-login-en")
    await page.get_by_role("link", name="Forgot your password?").click()
    await page.get_by_role("heading", name="Reset your password").wait_for()
    await page.goto(live.url + "/support")
    await page.get_by_role("heading", name="Contact support").wait_for()
    await shot(page, "21-support-en")
    await page.get_by_role("link", name="Русский").click()
    await page.get_by_role("heading", name="Обращение в поддержку").wait_for()


async def test_keyboard_only_sign_in_form(live, phone, make_account):
    """Tab order and visible focus: the elderly resident with a keyboard or a switch device."""
    page = phone
    account = await make_account()
    await page.goto(live.url + "/login")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent.trim()") == "Перейти к содержимому"
    focused = await page.evaluate("getComputedStyle(document.activeElement).top")
    assert focused != "-72px"  # the skip link comes into view when focused
    await page.get_by_label("Электронная почта, телефон или логин").focus()
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    await page.keyboard.type(account.email)
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/account")
    await page.set_viewport_size({"width": 1280, "height": 900})  # the same page on a desktop screen
    await shot(page, "40-account-desktop")
    await page.goto(live.url + "/support?lang=en")
    await shot(page, "41-support-desktop-en")


@pytest.fixture(scope="module")
def fed_port(live: LiveServer) -> int:
    return free_port()


@pytest.fixture(scope="module")
def op(fed_port: int, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The real oidc-provider of tests/node, knowing the portal by the second server's own URL."""
    from tests.federation_op import start_provider, stop_provider

    provider = start_provider(tmp_path_factory.mktemp("op"), portal_url=f"http://127.0.0.1:{fed_port}")
    yield provider
    stop_provider(provider)


@pytest.fixture(scope="module")
async def live_fed(
    op: Any, fed_port: int, settings: Any, smtp_sink: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveServer]:
    """A second `portal serve` with one identity provider, whose PORTAL_PUBLIC_URL is its real address."""
    city = [c for c in op.portal_config() if c["id"] == "city"]
    env = settings_env(settings) | {
        "PORTAL_PUBLIC_URL": f"http://127.0.0.1:{fed_port}",
        "PORTAL_SMTP_URL": f"smtp://127.0.0.1:{smtp_sink.port}",
        "PORTAL_OIDC_PROVIDERS": json.dumps(city),
    }
    server = start_live_server(env, tmp_path_factory.mktemp("browser-fed"), port=fed_port)
    yield server
    stop_live_server(server)


async def test_federated_sign_in_from_the_login_page(browser, live_fed, op):
    """The provider button on /login, the provider's own login and consent, back to `next`, linked on /account."""
    from tests.federation_op import account_login

    context = await browser.new_context(viewport=PHONE, locale="ru-RU")
    page = await context.new_page()
    try:
        await page.goto(live_fed.url + "/login?next=/support")
        await shot(page, "30-login-with-provider")
        await page.get_by_role("button", name="Войти через Городской портал").click()
        await page.locator('input[name="login"]').wait_for()
        assert page.url.startswith(op.issuer)
        email = f"{unique('anna')}@example.ru"
        await page.locator('input[name="login"]').fill(account_login(unique("sub"), email, True, "Анна Фёдорова"))
        await page.locator('input[name="password"]').fill("any")
        async with page.expect_navigation():
            await page.locator('button[type="submit"]').click()
        await page.locator('input[name="prompt"][value="consent"]').wait_for(state="attached")
        await page.locator('button[type="submit"]').click()  # the provider's consent
        await page.wait_for_url(live_fed.url + "/support")
        assert await page.get_by_label("ФИО").input_value() == "Анна Фёдорова"  # signed in: prefilled
        await page.goto(live_fed.url + "/account")
        linked = page.locator("section[aria-labelledby=linked-title]")
        assert "Городской портал" in await linked.inner_text() and email in await linked.inner_text()
        assert "Не задан: вы входите через внешний сервис" in await page.content()
        assert await page.get_by_role("button", name="Отвязать").count() == 0  # the only way in stays
        assert await page.locator('[data-action="account.created"]').count() == 1
        await shot(page, "31-account-federated")
    finally:
        await context.close()
