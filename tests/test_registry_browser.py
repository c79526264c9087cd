"""Residents join in headless Chromium against a real `portal serve`: the code from the bill on /activate,
then the confirmation link from the letter. Screenshots go to test-artifacts/pages/ like the seed's journeys."""

from __future__ import annotations

import csv
import re

from tests.helpers import REGISTRY_PASSWORD, RU_HEADER, codes_for, local, portal, resident_rows, shot, unique

CONFIRM_LINK = re.compile(r"https?://[^\s/]+/confirm-email\?token=[A-Za-z0-9_-]+")


async def test_a_resident_joins_with_the_code_on_the_bill(live, phone, smtp_sink, settings, tmp_path):
    page = phone
    rows = resident_rows(1)
    registry = tmp_path / "registry.csv"
    with registry.open("w", encoding="cp1251", newline="") as out:
        csv.writer(out, delimiter=";").writerows([RU_HEADER, *rows])
    assert portal(settings, "residents", "import", str(registry)).returncode == 0
    number, code = rows[0][0], (await codes_for(settings, tmp_path))[rows[0][0]]
    email = unique("bill") + "@example.ru"

    await page.goto(live.url + "/activate")
    await shot(page, "20-activate")
    await page.get_by_label("Номер лицевого счёта").fill(number)
    await page.get_by_label("Код подключения").fill(code.replace("-", "").lower()[:9] + "Z")  # a typo first
    await page.get_by_label("Электронная почта").fill(email)
    await page.get_by_label("Пароль", exact=True).fill(REGISTRY_PASSWORD)
    await page.get_by_label("Повторите пароль").fill(REGISTRY_PASSWORD)
    await page.get_by_label("Согласен(на) на обработку персональных данных").check()
    await page.get_by_role("button", name="Подключиться").click()
    alert = page.get_by_role("alert")
    await alert.wait_for()
    assert "Неверный номер лицевого счёта или код" in await alert.inner_text()
    await shot(page, "21-activate-wrong-code")

    await page.get_by_label("Код подключения").fill(code)
    await page.get_by_label("Пароль", exact=True).fill(REGISTRY_PASSWORD)
    await page.get_by_label("Повторите пароль").fill(REGISTRY_PASSWORD)
    await page.get_by_label("Согласен(на) на обработку персональных данных").check()
    await page.get_by_role("button", name="Подключиться").click()
    await page.get_by_role("heading", name="Вы подключены").wait_for()
    await shot(page, "22-activate-done")
    await page.get_by_role("link", name="В личный кабинет").click()
    await page.wait_for_url("**/account")  # signed in by the activation
    assert await page.locator(f'[data-personal-account="{number}"]').count() == 1

    letter = (await smtp_sink.wait_for(email, timeout=20))[-1]
    link = CONFIRM_LINK.search(letter.text)
    assert link, letter.text
    response = await page.goto(local(live, link.group(0)))
    assert response.headers["referrer-policy"] == "no-referrer"
    await page.get_by_role("button", name="Подтвердить адрес").click()
    await page.get_by_role("heading", name="Адрес подтверждён").wait_for()
    await shot(page, "23-email-confirmed")
    await page.goto(live.url + "/account")
    assert email in await page.content()
