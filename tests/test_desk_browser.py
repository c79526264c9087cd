"""The staff desk in headless Chromium against a real `portal serve`, real database and SMTP sink.

Journeys: an anonymous resident's ticket worked to a password reset and a resolution the resident reads on
/support/status; an e-mail change proposed by one ADMIN and approved by another in a second browser (the
requester cannot); a resident refused at /desk. Every desk page passes axe-core's WCAG 2.1 AA rules and is
saved as a screenshot under test-artifacts/desk/ (1280 px desktop, plus the queue and a ticket at 768 px).
"""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from portal.core.client import ClientInfo
from portal.models.accounts import Account, Role
from portal.models.audit import AuditEvent
from portal.models.support import TicketCategory
from portal.support.tickets.submission import Submitted, submit_ticket
from portal.support.tickets.validation import TicketForm
from tests.helpers import NEW_PASSWORD, PASSWORD, RESET_LINK, ROOT, LiveServer, local, unique

ARTIFACTS = ROOT / "test-artifacts" / "desk"
AXE = ROOT / "tests" / "node" / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 900}
TABLET = {"width": 768, "height": 1024}
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
LOGIN_LABEL = "Электронная почта, телефон или логин"


@pytest.fixture
async def desk_browser(browser: Any) -> AsyncIterator[Any]:
    """Opens desktop browser contexts (CSP bypassed only so axe-core can be injected); closes them after."""
    contexts: list[Any] = []

    async def open_page() -> Any:
        context = await browser.new_context(viewport=DESKTOP, locale="ru-RU", bypass_csp=True)
        contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda e: pytest.fail(f"script error: {e}"))
        return page

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield open_page
    for context in contexts:
        await context.close()


async def sign_in(page: Any, live: LiveServer, identifier: str, password: str = PASSWORD) -> None:
    """Opens /desk signed out: sent to /login?next=/desk, signs in, lands back on the desk."""
    await page.goto(live.url + "/desk")
    assert "/login?next=%2Fdesk" in page.url
    await page.get_by_label(LOGIN_LABEL).fill(identifier)
    await page.get_by_label("Пароль", exact=True).fill(password)
    await page.get_by_role("button", name="Войти", exact=True).click()
    await page.wait_for_url(live.url + "/desk")


async def check(page: Any, name: str) -> None:
    """No WCAG 2.1 AA violation by axe-core on this page, and its screenshot."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE))
    result = await page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}})).violations"
        ".map(v => ({id: v.id, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))",
        WCAG_AA,
    )
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    assert result == [], f"{name}: {result}"


def phone_number() -> tuple[str, str]:
    """A fresh Russian mobile number in two notations: as the resident types it, as staff search for it."""
    digits = f"{random.randrange(10**6, 10**7):07d}"  # noqa: S311 - test data
    return f"+7 913 {digits[:3]}-{digits[3:5]}-{digits[5:]}", f"8 (913) {digits[:3]} {digits[3:]}"


async def file_ticket(rt: Any, *, full_name: str, phone: str, identifier: str, reply: str) -> str:
    """A ticket as the anonymous support form files it (the form itself is driven in the first journey)."""
    form = TicketForm(
        full_name=full_name, registration_address="г. Пермь, ул. Ленина, д. 1, кв. 2", phone=phone,
        account_identifier=identifier, reply_email=reply, category=TicketCategory.ACCOUNT_ACCESS,
        description="Нет доступа к старой почте.", personal_data_consent=True, idempotency_key=unique("k"),
    )
    outcome = await submit_ticket(rt, form, account=None, client=ClientInfo(address="127.0.0.1"))
    assert isinstance(outcome, Submitted), outcome
    return outcome.view.ticket.number


async def test_resident_ticket_to_reset_and_resolution(live, phone, desk_browser, smtp_sink, make_account):
    resident = await make_account(full_name="Кузнецова Анна Петровна", login=unique("anna"))
    staff = await make_account(full_name="Оператор Ольга", role=Role.STAFF)
    typed_phone, other_notation = phone_number()
    await Account.filter(id=resident.id).update(phone=re.sub(r"[^\d+]", "", typed_phone))

    # 1. The resident, not signed in, files a ticket on /support.
    reply = f"{unique('reply')}@example.ru"
    await phone.goto(live.url + "/support")
    await phone.get_by_label("ФИО").fill("Кузнецова Анна Петровна")
    await phone.get_by_label("Адрес регистрации").fill("г. Пермь, ул. Ленина, д. 10, кв. 5")
    await phone.get_by_label("Телефон").fill(typed_phone)
    await phone.get_by_label("Логин или почта от личного кабинета").fill(resident.login)
    await phone.get_by_label("Почта для ответа").fill(reply)
    await phone.get_by_label("Что случилось").fill("Забыла пароль, письмо не приходит.")
    await phone.get_by_label("Согласен(на) на обработку персональных данных").check()
    await phone.get_by_role("button", name="Отправить обращение").click()
    await phone.get_by_role("heading", name="Обращение принято").wait_for()
    number = (await phone.locator("#ticket-number").inner_text()).strip()
    status_link = local(live, (await phone.locator("#status-link").inner_text()).strip())

    # 2. Staff sign in on the same /login, find it by the phone in another notation.
    page = await desk_browser()
    await sign_in(page, live, staff.email)
    header = await page.locator("#desk-who").inner_text()
    assert "Оператор Ольга" in header and "сотрудник поддержки" in header
    await check(page, "01-queue")
    # Keyboard only: the skip link first, a visible focus ring, the search sent with Enter.
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent.trim()") == "Перейти к содержимому"
    await page.get_by_label("Поиск", exact=True).focus()
    assert await page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    await page.keyboard.type(other_notation)
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/desk\?search="))
    rows = page.locator("#queue tbody tr")
    assert await rows.count() == 1 and await rows.first.get_attribute("data-number") == number
    assert "Всего: 1" in await page.locator("#desk-total").inner_text()
    assert "не назначено" in await rows.first.inner_text()
    await check(page, "02-queue-search-phone")
    await page.get_by_role("link", name=number).click()
    await page.get_by_role("heading", name=f"Обращение № {number}").wait_for()
    assert "Забыла пароль, письмо не приходит." in await page.locator("#description").inner_text()
    await check(page, "03-ticket")

    # 3. A reset link before ownership is verified: refused, in words, next to its form.
    await page.get_by_role("button", name="Отправить ссылку для смены пароля").click()
    problem = page.locator("#problem-reset-link")
    await problem.wait_for()
    assert "Сначала подтвердите, что заявитель — владелец учётной записи." in await problem.inner_text()
    assert "NOT_VERIFIED" not in await problem.inner_text()
    await check(page, "04-ticket-refused")

    # 4. Take it, verify ownership by the evidence that matched, send the reset link.
    await page.get_by_role("button", name="Взять себе").click()
    await page.get_by_text("Ответственный назначен.").wait_for()
    assert "Оператор Ольга" in await page.locator("#ticket-holder").inner_text()
    await page.get_by_label("Учётная запись", exact=True).fill(other_notation)  # the account by its phone
    await page.get_by_label("ФИО", exact=True).check()
    await page.get_by_label("Телефон из учётной записи").check()
    await page.get_by_label("Владелец подтверждён").check()
    await page.get_by_label("Комментарий").fill("Перезвонили по номеру из учётной записи.")
    await page.get_by_role("button", name="Записать проверку").click()
    await page.get_by_text("Проверка записана.").wait_for()
    assert "Кузнецова Анна Петровна" in await page.locator("#checks").inner_text()
    await page.get_by_role("button", name="Отправить ссылку для смены пароля").click()
    await page.get_by_text("Ссылка для смены пароля отправлена на почту учётной записи.").wait_for()
    await check(page, "05-ticket-verified")

    # 5. The resident resets the password through the letter.
    link = (await smtp_sink.wait_for_match(resident.email, RESET_LINK, timeout=20)).group(0)
    await phone.goto(local(live, link))
    await phone.get_by_label("Новый пароль", exact=True).fill(NEW_PASSWORD)
    await phone.get_by_label("Повторите новый пароль").fill(NEW_PASSWORD)
    await phone.get_by_role("button", name="Сохранить пароль").click()
    await phone.get_by_role("heading", name="Пароль изменён").wait_for()

    # 6. Staff resolve the ticket with a public message; the resident reads it on /support/status.
    message = "Доступ восстановлен: вы сменили пароль по ссылке из письма."
    await page.get_by_label("Новый статус").select_option("RESOLVED")
    await page.get_by_label("Сообщение жителю").fill(message)
    await page.get_by_role("button", name="Сменить статус").click()
    await page.get_by_text("Статус изменён.").wait_for()
    assert await page.locator("#ticket-status").inner_text() == "Решено"
    await phone.goto(status_link)
    assert await phone.locator("[data-status]").inner_text() == "Решено"
    assert message in await phone.locator(".messages").inner_text()

    # Every view of the ticket's personal data is audited.
    assert await AuditEvent.filter(action="ticket.viewed", ticket_number=number, actor_id=staff.id).count() >= 5

    # 7. The queue at 768 px (a tablet) is still usable; the account page from the look-up form.
    await page.set_viewport_size(TABLET)
    await page.goto(live.url + "/desk")
    await page.screenshot(path=str(ARTIFACTS / "06-queue-768.png"), full_page=True)
    await page.goto(f"{live.url}/desk/tickets/{number}")
    await check(page, "06-ticket-768")
    await page.goto(live.url + "/desk")
    await page.get_by_label("Почта, телефон, логин или номер учётной записи").fill(resident.login)
    await page.get_by_role("button", name="Открыть учётную запись").click()
    await page.get_by_role("heading", name="Кузнецова Анна Петровна").wait_for()
    assert number in await page.locator("section[aria-labelledby=tickets-title]").inner_text()
    await page.set_viewport_size(DESKTOP)
    await check(page, "07-account")
    assert await page.get_by_role("button", name="Удалить данные").count() == 0  # ADMIN only


async def test_email_change_needs_a_second_admin(live, desk_browser, smtp_sink, make_account, rt):
    resident = await make_account(full_name="Смирнов Пётр Ильич")
    first = await make_account(full_name="Администратор Первый", role=Role.ADMIN)
    second = await make_account(full_name="Администратор Второй", role=Role.ADMIN)
    new_email = f"{unique('new')}@example.ru"
    number = await file_ticket(rt, full_name=resident.full_name, phone=phone_number()[0],
                               identifier=resident.email, reply=new_email)

    # The first admin verifies ownership and proposes the move to the ticket's reply address.
    page = await desk_browser()
    await sign_in(page, live, first.email)
    await page.goto(f"{live.url}/desk/tickets/{number}")
    await page.get_by_label("ФИО", exact=True).check()
    await page.get_by_label("Документы предъявлены").check()
    await page.get_by_role("button", name="Записать проверку").click()
    problem = page.locator("#problem-verify")  # documents seen, but which: the field is required
    await problem.wait_for()
    assert "Заполните это поле." in await problem.inner_text()
    await page.get_by_label("ФИО", exact=True).check()
    await page.get_by_label("Документы предъявлены").check()
    await page.get_by_label("Какие документы видели").fill("паспорт")
    await page.get_by_role("button", name="Записать проверку").click()
    await page.get_by_text("Проверка записана.").wait_for()
    assert await page.get_by_label("Новая почта").input_value() == new_email
    await page.get_by_role("button", name="Предложить смену почты").click()
    await page.get_by_text("Смена почты предложена и ждёт одобрения другого администратора.").wait_for()

    # The requester sees the request but no way to approve it, and a forged post is refused in words.
    await page.get_by_role("link", name="Одобрения").click()
    item = page.locator("#approvals li", has_text=number)
    await item.wait_for()
    assert "Эту смену предложили вы" in await item.inner_text()
    assert await item.get_by_role("button", name="Одобрить").count() == 0
    await check(page, "10-approvals-own")
    request_id = await item.get_attribute("data-request")
    await page.evaluate(
        """(id) => { const f = document.createElement('form'); f.method = 'post';
           f.action = '/desk/approvals/' + id + '/approve';
           const c = document.querySelector('input[name=csrf]').cloneNode(); f.appendChild(c);
           document.body.appendChild(f); f.submit(); }""",
        request_id,
    )
    refusal = page.locator("#approvals li", has_text=number).get_by_role("alert")
    await refusal.wait_for()
    assert "Смену почты должен одобрить другой сотрудник." in await refusal.inner_text()

    # The second admin, in a second browser, approves; the link goes to the new address.
    other = await desk_browser()
    await sign_in(other, live, second.email)
    assert "администратор" in await other.locator("#desk-who").inner_text()
    await other.goto(live.url + "/desk/approvals")
    item = other.locator("#approvals li", has_text=number)
    assert "паспорт" in await item.inner_text() and "Администратор Первый" in await item.inner_text()
    await check(other, "11-approvals")
    await item.get_by_role("button", name="Одобрить").click()
    await other.get_by_text("Смена почты одобрена").wait_for()
    await smtp_sink.wait_for_match(new_email, RESET_LINK, timeout=20)  # after the ticket's receipt, the link
    await smtp_sink.wait_for(resident.email, timeout=20)  # the old address is told
    assert await AuditEvent.filter(action="recovery.email_change_approved", actor_id=second.id).count() == 1
    assert await AuditEvent.filter(action="recovery.refused", actor_id=first.id, ticket_number=number).count() == 1

    # The account page for an ADMIN: role, export, erasure behind a typed confirmation.
    await other.goto(f"{live.url}/desk/accounts/{resident.id}")
    await check(other, "12-account-admin")
    async with other.expect_download() as download:
        await other.get_by_role("button", name="Скачать данные").click()
    assert (await download.value).suggested_filename == f"account-{resident.id}.json"
    await other.get_by_label("Для подтверждения введите слово УДАЛИТЬ").fill("удалить?")
    await other.get_by_role("button", name="Удалить данные").click()
    error = other.locator("#problem-erase")
    await error.wait_for()
    assert "Введите слово подтверждения точно" in await error.inner_text()
    await other.get_by_label("Для подтверждения введите слово УДАЛИТЬ").fill("удалить")
    await other.get_by_role("button", name="Удалить данные").click()
    await other.get_by_text("Персональные данные удалены, доступ отозван.").wait_for()
    assert "данные удалены" in await other.locator("#account-state").inner_text()


async def test_resident_is_refused_at_the_desk(live, phone, make_account):
    resident = await make_account()
    await phone.goto(live.url + "/desk/tickets/2026-000001")
    assert "/login?next=%2Fdesk%2Ftickets%2F2026-000001" in phone.url
    await phone.get_by_label(LOGIN_LABEL).fill(resident.email)
    await phone.get_by_label("Пароль", exact=True).fill(PASSWORD)
    await phone.get_by_role("button", name="Войти", exact=True).click()
    await phone.get_by_role("heading", name="Нет доступа").wait_for()
    assert "учётная запись жителя" in await phone.content()
    response = await phone.goto(live.url + "/desk")
    assert response.status == 403
    await phone.screenshot(path=str(ARTIFACTS / "20-resident-refused.png"), full_page=True)
    response = await phone.goto(live.url + "/desk/approvals")
    assert response.status == 403
