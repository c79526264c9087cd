"""The staff desk pages over HTTP (the ASGI app): who gets in, CSRF on every form, odd input never a 500."""

from __future__ import annotations

import json

import pytest

from portal.core.client import ClientInfo
from portal.models.accounts import Account, AccountStatus, Role
from portal.models.audit import AuditEvent
from portal.models.support import Ticket, TicketCategory
from portal.support.tickets.submission import Submitted, submit_ticket
from portal.support.tickets.validation import TicketForm
from tests.helpers import csrf_of, page_sign_in, unique

TICKET_FORMS = ("assign", "status", "note", "verify", "reset-link", "email-change")
ACCOUNT_FORMS = ("disable", "enable", "unlock", "role", "export", "erase")


async def new_ticket(rt, phone: str = "+79120000000") -> str:
    form = TicketForm(
        full_name="Иванова Мария", registration_address="г. Пермь, ул. Мира, 1", phone=phone,
        account_identifier="maria", reply_email=f"{unique('r')}@example.ru", category=TicketCategory.OTHER,
        description="Вопрос.", personal_data_consent=True, idempotency_key=unique("k"),
    )
    outcome = await submit_ticket(rt, form, account=None, client=ClientInfo(address="127.0.0.1"))
    assert isinstance(outcome, Submitted)
    return outcome.view.ticket.number


@pytest.fixture
async def staff_client(page_client, make_account):
    staff = await make_account(full_name="Сотрудник Тест", role=Role.STAFF)
    assert (await page_sign_in(page_client, staff.email, next="/desk")).status_code == 303
    page_client.staff = staff
    return page_client


async def test_anonymous_goes_to_sign_in_and_a_resident_gets_a_plain_403(page_client, make_account):
    response = await page_client.get("/desk?status=NEW")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fdesk%3Fstatus%3DNEW"

    resident = await make_account()
    assert (await page_sign_in(page_client, resident.email, next="/desk")).headers["location"] == "/desk"
    for path in ("/desk", "/desk/approvals", f"/desk/accounts/{resident.id}", "/desk/tickets/2026-000001"):
        response = await page_client.get(path)
        assert response.status_code == 403, path
        assert "учётная запись жителя" in response.text
    token = await csrf_of(page_client, "/account")
    response = await page_client.post(f"/desk/accounts/{resident.id}/disable", data={"csrf": token})
    assert response.status_code == 403
    assert (await Account.get(id=resident.id)).status == AccountStatus.ACTIVE


async def test_every_form_refuses_a_post_without_the_csrf_token(staff_client, rt, make_account):
    number = await new_ticket(rt)
    resident = await make_account()
    for action in TICKET_FORMS:
        response = await staff_client.post(f"/desk/tickets/{number}/{action}", data={"body": "x", "status": "NEW"})
        assert response.status_code == 403, action
        assert "Страница устарела" in response.text or "устарел" in response.text
    for action in ("disable", "enable", "unlock"):
        response = await staff_client.post(f"/desk/accounts/{resident.id}/{action}", data={})
        assert response.status_code == 403, action
    assert await AuditEvent.filter(action="ticket.note_added", ticket_number=number).count() == 0
    assert (await Account.get(id=resident.id)).status == AccountStatus.ACTIVE


async def test_staff_cannot_use_the_admin_forms_or_decide(staff_client, make_account):
    resident = await make_account()
    token = await csrf_of(staff_client, "/desk")
    for action in ("role", "export", "erase"):
        response = await staff_client.post(
            f"/desk/accounts/{resident.id}/{action}", data={"csrf": token, "role": "ADMIN", "confirmation": "ERASE"}
        )
        assert response.status_code == 403, action
        assert "только администраторы" in response.text
    assert (await Account.get(id=resident.id)).role == Role.RESIDENT
    response = await staff_client.post(
        "/desk/approvals/00000000-0000-0000-0000-000000000000/approve", data={"csrf": token}
    )
    assert response.status_code == 403
    refused = await AuditEvent.filter(action="recovery.refused", actor_id=staff_client.staff.id).first()
    assert refused is not None and refused.details["reason"] == "ADMIN_ONLY"


@pytest.mark.parametrize(
    "query",
    [
        "after=bm90LW91cnM",
        "after=%FF%FE",
        "status=DELETED",
        "category=" + "x" * 5000,
        "search=%00abc",
        "search=" + "9" * 5000,
        "mine=yes&status=NEW&category=OTHER&search=+7%20(912)",
    ],
)
async def test_odd_queue_queries_are_answered_never_a_500(staff_client, query):
    response = await staff_client.get("/desk?" + query)
    assert response.status_code in (200, 400), response.text[:300]
    assert "Очередь обращений" in response.text


@pytest.mark.parametrize(
    "path",
    ["/desk/tickets/2026-999999", "/desk/tickets/%27%3B--", "/desk/tickets/" + "1" * 300,
     "/desk/accounts/not-a-uuid", "/desk/accounts/00000000-0000-0000-0000-000000000000",
     "/desk/accounts?identifier=nobody-here", "/desk/accounts?identifier=%00"],
)
async def test_unknown_tickets_and_accounts_are_404_in_words(staff_client, path):
    response = await staff_client.get(path)
    assert response.status_code == 404
    assert "не найден" in response.text.lower() or "такой учётной записи нет" in response.text.lower()


async def test_odd_form_values_are_explained_next_to_the_form(staff_client, rt):
    number = await new_ticket(rt)
    token = await csrf_of(staff_client, f"/desk/tickets/{number}")
    cases = [
        ("status", {"status": "DONE"}, "Выберите значение из списка."),
        ("status", {"status": "NEW"}, "ничего не изменилось"),
        ("status", {"status": "IN_PROGRESS", "publicMessage": "x" * 5001}, "Слишком длинное значение"),
        ("note", {"body": "   "}, "Заполните это поле."),
        ("verify", {"account": "", "outcome": "VERIFIED"}, "Заполните это поле."),
        ("verify", {"account": "nobody@example.ru", "outcome": "MAYBE"}, "Выберите значение из списка."),
        ("verify", {"account": "nobody@example.ru", "outcome": "VERIFIED", "evidence": "EYES"},
         "Выберите значение из списка."),
        ("verify", {"account": "nobody@example.ru", "outcome": "VERIFIED"}, "Заполните это поле."),
        ("assign", {"assignee": "not-a-uuid"}, "Такого обращения или записи нет."),
        ("email-change", {"newEmail": "not an address"}, "Сначала подтвердите"),
        ("nonsense", {}, ""),
    ]
    for action, values, expected in cases:
        response = await staff_client.post(f"/desk/tickets/{number}/{action}", data={"csrf": token, **values})
        assert 400 <= response.status_code < 500, (action, values, response.status_code)
        assert expected in response.text, (action, values)
        if action != "nonsense":
            assert f'id="problem-{action}"' in response.text
    assert (await Ticket.get(number=number)).status.value == "new"


async def test_staff_work_a_ticket_and_an_account_over_plain_forms(staff_client, rt, make_account):
    number = await new_ticket(rt)
    resident = await make_account(full_name="Житель Тестовый")
    token = await csrf_of(staff_client, "/desk")
    base = f"/desk/tickets/{number}"
    steps = [
        ("assign", {"assignee": "me"}, "assigned"),
        ("note", {"body": "Звонил, не дозвонился."}, "note"),
        ("verify", {"account": resident.email, "evidence": "FULL_NAME", "outcome": "VERIFIED"}, "verified"),
        ("status", {"status": "WAITING_FOR_RESIDENT", "publicMessage": "Пришлите фото паспорта."}, "status"),
    ]
    for action, values, notice in steps:
        response = await staff_client.post(f"{base}/{action}", data={"csrf": token, **values})
        assert response.status_code == 303, (action, response.text[:500])
        assert response.headers["location"] == f"{base}?notice={notice}#{action}"
    page = (await staff_client.get(f"{base}?notice=status")).text
    assert "Статус изменён." in page and "Звонил, не дозвонился." in page and "Пришлите фото паспорта." in page
    queue = (await staff_client.get("/desk?mine=1")).text
    assert number in queue and "(вы)" in queue

    account_page = f"/desk/accounts/{resident.id}"
    for action in ("disable", "enable", "unlock"):
        response = await staff_client.post(f"{account_page}/{action}", data={"csrf": token, "reason": "проверка"})
        assert response.status_code == 303, action
    response = await staff_client.get(account_page)
    assert number in response.text and resident.email in response.text
    actions = set(await AuditEvent.filter(subject_id=resident.id).values_list("action", flat=True))
    assert {"account.disabled", "account.enabled", "account.unlocked", "account.viewed"} <= actions
    # Staff never manage staff: refused in words, nothing changes.
    colleague = await make_account(role=Role.STAFF)
    response = await staff_client.post(f"/desk/accounts/{colleague.id}/disable", data={"csrf": token})
    assert response.status_code == 409 and "Это может сделать только администратор." in response.text


async def test_an_admin_downloads_the_export(page_client, make_account):
    admin = await make_account(role=Role.ADMIN)
    resident = await make_account(full_name="Выгружаемый Житель")
    await page_sign_in(page_client, admin.email)
    token = await csrf_of(page_client, f"/desk/accounts/{resident.id}")
    response = await page_client.post(f"/desk/accounts/{resident.id}/export", data={"csrf": token})
    assert response.status_code == 200
    assert response.headers["content-disposition"] == f'attachment; filename="account-{resident.id}.json"'
    assert json.loads(response.text)["account"]["full_name"] == "Выгружаемый Житель"
    assert await AuditEvent.filter(action="account.exported", actor_id=admin.id, subject_id=resident.id).count() == 1
    response = await page_client.post(f"/desk/accounts/{admin.id}/role", data={"csrf": token, "role": "STAFF"})
    assert response.status_code == 409 and "Нельзя выполнить это действие над своей учётной записью." in response.text


async def test_english_switch_and_a_personal_account_number_search(staff_client, make_account, rt):
    resident = await make_account(full_name="Лицевой Счёт")
    from portal.models.residents import PersonalAccount

    number = str(5500000000 + int(unique("n").encode().hex()[-6:], 16) % 10**6)  # a number of this run's own
    now = rt.clock.now()
    flat = await PersonalAccount.create(number=number, address="ул. Тестовая, 1, кв. 1", created_at=now, updated_at=now)
    await flat.holders.add(resident)
    response = await staff_client.get(f"/desk?search={number}&lang=en")
    assert response.status_code == 303 and response.headers["location"] == f"/desk?search={number}"
    page = (await staff_client.get(response.headers["location"])).text
    assert '<html lang="en">' in page and "Ticket queue" in page and "support staff" in page
    assert f'href="/desk/accounts/{resident.id}"' in page  # the account, one click from the search


async def test_nul_and_control_characters_in_every_form_get_an_answer(staff_client, rt, make_account):
    """PostgreSQL refuses NUL in text and JSON: every form field that reaches a query or the audit log is checked."""
    number = await new_ticket(rt)
    resident = await make_account()
    token = await csrf_of(staff_client, "/desk")
    posts = [
        (f"/desk/tickets/{number}/note", {"body": "a\x00b"}),
        (f"/desk/tickets/{number}/status", {"status": "IN_PROGRESS", "publicMessage": "a\x00b"}),
        (f"/desk/tickets/{number}/verify", {"account": "a\x00b", "outcome": "VERIFIED", "evidence": "FULL_NAME"}),
        (f"/desk/tickets/{number}/verify",
         {"account": resident.email, "outcome": "NOT_VERIFIED", "comment": "a\x00b", "documents": "\x00"}),
        (f"/desk/tickets/{number}/email-change", {"newEmail": "a\x00b@example.ru"}),
        (f"/desk/tickets/{number}/assign", {"assignee": "\x00"}),
        (f"/desk/accounts/{resident.id}/disable", {"reason": "a\x00b"}),
    ]
    for path, values in posts:
        response = await staff_client.post(path, data={"csrf": token, **values})
        assert response.status_code < 500, (path, values, response.text[:300])
    for query in ("/desk/accounts?identifier=a%00b", "/desk?search=%00", "/desk?status=%00", "/desk?after=%00"):
        assert (await staff_client.get(query)).status_code < 500, query


async def test_staff_without_a_second_factor_enrol_before_the_desk_opens(rt, make_account):
    """PORTAL_STAFF_SECOND_FACTOR=required (`auto` in production): the desk waits for TOTP or a passkey."""
    import dataclasses

    import httpx
    import pyotp

    from portal.api.app import create_app
    from portal.core.runtime import Runtime
    from portal.identity import totp
    from portal.models.accounts import Session
    from tests.helpers import PUBLIC_URL, new_address

    strict = Runtime(rt.settings.model_copy(update={"staff_second_factor": "required"}), rt.clock)
    assert strict.settings.staff_need_second_factor and not rt.settings.staff_need_second_factor
    app = create_app(runtime=strict, manage_database=False)
    staff = await make_account(full_name="Сотрудник Строгий", role=Role.STAFF)
    transport = httpx.ASGITransport(app=app, client=(new_address(), 40000))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as browser:
        assert (await page_sign_in(browser, staff.email, next="/desk")).status_code == 303
        refused = await browser.get("/desk")
        assert refused.status_code == 403 and 'href="/account/two-factor"' in refused.text
        assert "второй фактор" in refused.text.lower()

        session = await Session.filter(account_id=staff.id, revoked_at__isnull=True).select_related("account").first()
        started = await totp.start_enrollment(strict, session)
        client = ClientInfo(address="127.0.0.1", user_agent=None, locale="ru")
        enabled = await totp.confirm_enrollment(strict, session, pyotp.TOTP(started.secret).now(), client)
        assert dataclasses.is_dataclass(enabled) and len(enabled.codes) == 10
        assert (await browser.get("/desk")).status_code == 200
