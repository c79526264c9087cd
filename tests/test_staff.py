"""The staff desk end to end: an anonymous ticket, the queue, ownership, both recovery paths, the audit trail."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from portal.models.accounts import Account, Role
from portal.models.audit import AuditEvent
from portal.models.desk import RecoveryRequest, RecoveryStatus
from tests.helpers import (
    APPROVE,
    ASSIGN,
    DETAILS,
    EMAIL_CHANGE,
    GQL,
    NOTE,
    PASSWORD,
    REJECT,
    SEND_RESET_LINK,
    STATUS,
    VERIFY_OWNERSHIP,
    anonymous_ticket,
    auth,
    client_at,
    drain,
    holding,
    random_phone,
    reset,
    sign_in,
    staff_member,
    token_from,
    unique,
)

PUBLIC = """
query($n: String!, $k: String!) { supportTicket(number: $n, accessKey: $k) { number status messages { body } } }
"""
QUEUE = """
query($status: TicketStatus, $mine: Boolean! = false, $search: String, $first: Int, $after: String) {
  supportTickets(status: $status, assignedToMe: $mine, search: $search, first: $first, after: $after) {
    __typename
    ... on SupportTicketConnection { totalCount pageInfo { hasNextPage endCursor }
          nodes { number status fullName phone replyEmail assignedTo { id } } }
    ... on ValidationError { fields { field code } } } }
"""


NEW_PASSWORD = "a brand new passphrase for the stairwell"
LOGIN_TYPENAME = "mutation($i: String!, $p: String!) { login(identifier: $i, password: $p) { __typename } }"
EXPORT = "mutation($a: ID!) { exportAccountData(accountId: $a) { ... on AccountDataExported { data } } }"
ERASE = "mutation($a: ID!) { eraseAccount(accountId: $a) { __typename ... on AccountErased { summary } } }"
UNLOCK = "mutation($a: ID!) { unlockAccount(accountId: $a) { __typename ... on ActionRefused { code } } }"


async def desk_team(gql: GQL, make_account, number: str, owner: Account) -> dict[str, tuple[Account, dict[str, Any]]]:
    """A STAFF member verifies that the ticket's requester owns `owner`; two ADMINs stand by (to propose, to approve)."""
    team = {
        "staff": await staff_member(gql, make_account, Role.STAFF),
        "proposer": await staff_member(gql, make_account, Role.ADMIN),
        "approver": await staff_member(gql, make_account, Role.ADMIN),
    }
    verified = await gql(VERIFY_OWNERSHIP, {"n": number, "a": owner.email, "o": "VERIFIED", "e": ["FULL_NAME", "PHONE_ON_FILE"]},
                         **auth(team["staff"][1]))
    assert verified["verifyTicketOwnership"]["__typename"] == "OwnershipRecorded"
    return team


async def actions_for(number: str) -> list[str]:
    return list(await AuditEvent.filter(ticket_number=number).order_by("id").values_list("action", flat=True))


async def test_reset_link_path_from_anonymous_ticket_to_restored_access(gql, app, rt, make_account, smtp_sink):
    owner = await make_account(phone=random_phone(), full_name="Мария Ивановна Соколова")
    flat = await holding(owner)
    reply = unique("reply") + "@example.ru"
    number, key = await anonymous_ticket(app, accountIdentifier=owner.email, phone=owner.phone, replyEmail=reply,
                                         personalAccountNumber=flat.lower())
    staff, session = await staff_member(gql, make_account)

    # The queue finds it by phone in another notation, by number and by e-mail.
    local = owner.phone.removeprefix("+7")
    for search in (f"8 ({local[:3]}) {local[3:6]}-{local[6:8]}-{local[8:]}", number, reply.upper(), owner.email, flat):
        queue = (await gql(QUEUE, {"search": search}, **auth(session)))["supportTickets"]
        assert [n["number"] for n in queue["nodes"]] == [number], search
    details = (await gql(DETAILS, {"n": number}, **auth(session)))["supportTicketDetails"]
    assert details["registrationAddress"] == "г. Екатеринбург, ул. Ленина, д. 5, кв. 12"
    assert details["accountIdentifier"] == owner.email and details["replyEmail"] == reply
    # The personal account number on the ticket belongs to the account it names: matched evidence.
    assert (details["personalAccountNumber"], details["personalAccountMatched"]) == (flat, True)

    assigned = await gql(ASSIGN, {"n": number}, **auth(session))
    assert assigned["assignSupportTicket"]["ticket"]["assignedTo"]["id"] == str(staff.id)
    mine = (await gql(QUEUE, {"mine": True, "first": 100}, **auth(session)))["supportTickets"]
    assert number in [n["number"] for n in mine["nodes"]]
    changed = await gql(STATUS, {"n": number, "s": "IN_PROGRESS", "m": "Проверяем ваши данные."}, **auth(session))
    assert changed["changeSupportTicketStatus"]["ticket"]["status"] == "IN_PROGRESS"
    note = await gql(NOTE, {"n": number, "b": "Звонила, голос совпадает; паспорт покажет в офисе."}, **auth(session))
    assert note["addSupportTicketNote"]["__typename"] == "TicketNoteAdded"

    # The resident sees the status and the public message, never the note.
    public = await gql.raw(PUBLIC, {"n": number, "k": key})
    assert public.json()["data"]["supportTicket"] == {
        "number": number, "status": "IN_PROGRESS", "messages": [{"body": "Проверяем ваши данные."}]
    }
    assert "паспорт" not in public.text
    await drain(rt)
    update = (await smtp_sink.wait_for(reply, 2))[-1]
    assert number in update.subject and "Проверяем ваши данные." in update.text

    # No recovery before ownership is verified.
    early = await gql(SEND_RESET_LINK, {"n": number}, **auth(session))
    assert early["sendRecoveryResetLink"] == {"__typename": "ActionRefused", "code": "NOT_VERIFIED"}
    missing_docs = await gql(VERIFY_OWNERSHIP, {"n": number, "a": owner.email, "e": ["DOCUMENTS_SEEN"], "o": "VERIFIED"},
                             **auth(session))
    assert missing_docs["verifyTicketOwnership"]["fields"] == [{"field": "documents", "code": "REQUIRED"}]
    verified = await gql(VERIFY_OWNERSHIP, {
        "n": number, "a": owner.phone, "o": "VERIFIED", "d": "паспорт 65 04 № 123456",
        "e": ["FULL_NAME", "REGISTERED_ADDRESS", "PHONE_ON_FILE", "PERSONAL_ACCOUNT_NUMBER", "DOCUMENTS_SEEN"],
    }, **auth(session))
    check = verified["verifyTicketOwnership"]["check"]
    assert check["account"]["id"] == str(owner.id) and len(check["evidence"]) == 5

    sent = await gql(SEND_RESET_LINK, {"n": number}, **auth(session))
    assert sent["sendRecoveryResetLink"]["recovery"]["status"] == "SENT"
    await drain(rt)
    letters = await smtp_sink.wait_for(owner.email, 2)
    assert any(number in letter.text for letter in letters)  # "a recovery case was opened"
    token = token_from(letters[-1])
    assert (await reset(gql, token, NEW_PASSWORD))["__typename"] == "PasswordResetSucceeded"
    await sign_in(gql, owner.email, NEW_PASSWORD)

    assert await actions_for(number) == [
        "ticket.submitted", "ticket.viewed", "ticket.assigned", "ticket.status_changed", "ticket.note_added",
        "recovery.refused", "ticket.ownership_verified", "recovery.reset_link_sent",
    ]
    staff_events = await AuditEvent.filter(ticket_number=number, actor_id=staff.id).all()
    assert staff_events and all(e.client_address == "127.0.0.1" for e in staff_events)
    assert await AuditEvent.filter(subject_id=owner.id, action="password.reset").exists()


async def test_email_change_path_needs_a_second_admin_and_waits_for_the_new_address(
    gql, app, rt, make_account, smtp_sink
):
    owner = await make_account(phone=random_phone())
    old_email = owner.email
    new_email = unique("new") + "@example.ru"
    number, _ = await anonymous_ticket(app, accountIdentifier=owner.phone, phone=owner.phone, replyEmail=new_email)
    team = await desk_team(gql, make_account, number, owner)
    (requester, requester_session), (_, staff_session) = team["proposer"], team["staff"]
    approver, approver_session = team["approver"]
    proposed = (await gql(EMAIL_CHANGE, {"n": number}, **auth(requester_session)))["requestRecoveryEmailChange"]
    assert proposed["recovery"]["status"] == "AWAITING_APPROVAL" and proposed["recovery"]["newEmail"] == new_email
    recovery_id = proposed["recovery"]["id"]
    await drain(rt)
    assert smtp_sink.to(new_email)[-1].subject != ""  # only the ticket confirmation so far
    assert not [letter for letter in smtp_sink.to(new_email) if "reset-password" in letter.text]

    # Two-person rule: not the requester, not a mere staff member.
    same = await gql(APPROVE, {"r": recovery_id}, **auth(requester_session))
    assert same["approveRecoveryEmailChange"] == {"__typename": "ActionRefused", "code": "SAME_APPROVER"}
    by_staff = await gql(APPROVE, {"r": recovery_id}, **auth(staff_session))
    assert by_staff["approveRecoveryEmailChange"]["__typename"] == "Forbidden"
    approved = await gql(APPROVE, {"r": recovery_id}, **auth(approver_session))
    assert approved["approveRecoveryEmailChange"]["recovery"] == {"status": "SENT", "decidedById": str(approver.id)}
    twice = await gql(APPROVE, {"r": recovery_id}, **auth(approver_session))
    assert twice["approveRecoveryEmailChange"]["code"] == "ALREADY_DECIDED"

    # Nothing has changed yet; the old address is told; the link went to the new address.
    assert (await Account.get(id=owner.id)).email == old_email
    await drain(rt)
    notices = [letter for letter in smtp_sink.to(old_email) if "будет изменён" in letter.subject]
    assert notices and "ne***@example.ru" in notices[0].text and new_email not in notices[0].text
    link = [letter for letter in smtp_sink.to(new_email) if "reset-password" in letter.text][-1]
    assert (await reset(gql, token_from(link), NEW_PASSWORD))["__typename"] == "PasswordResetSucceeded"

    changed = await Account.get(id=owner.id)
    assert changed.email == new_email and changed.email_verified
    await sign_in(gql, new_email, NEW_PASSWORD)
    old_login = await gql.raw(LOGIN_TYPENAME, {"i": old_email, "p": NEW_PASSWORD})
    assert old_login.json()["data"]["login"]["__typename"] == "InvalidCredentials"
    await drain(rt)
    assert any("изменён" in letter.subject and "будет" not in letter.subject for letter in smtp_sink.to(old_email))
    assert (await RecoveryRequest.get(id=recovery_id)).status == RecoveryStatus.COMPLETED
    assert set(await actions_for(number)) >= {
        "ticket.ownership_verified", "recovery.email_change_requested", "recovery.email_change_approved",
        "recovery.email_changed", "recovery.refused",
    }
    approval = await AuditEvent.get(ticket_number=number, action="recovery.email_change_approved")
    assert approval.actor_id == approver.id and approval.details["requested_by"] == str(requester.id)


@pytest.mark.parametrize("role", [Role.STAFF, Role.ADMIN])
async def test_recovering_a_staff_or_admin_accounts_email_takes_two_admins_neither_the_owner(
    gql, app, rt, make_account, role
):
    """Issue 14: moving a STAFF or ADMIN account to a new address hands over the desk, so STAFF cannot
    propose it (only an ADMIN), and the approving ADMIN is neither the proposer nor the account's owner."""
    owner, owner_session = await staff_member(gql, make_account, role)
    await Account.filter(id=owner.id).update(phone=random_phone())
    owner = await Account.get(id=owner.id)
    number, _ = await anonymous_ticket(app, accountIdentifier=owner.email, phone=owner.phone)
    team = await desk_team(gql, make_account, number, owner)
    staff_session, proposer_session = team["staff"][1], team["proposer"][1]
    approver, approver_session = team["approver"]

    by_staff = (await gql(EMAIL_CHANGE, {"n": number}, **auth(staff_session)))["requestRecoveryEmailChange"]
    assert by_staff == {"__typename": "ActionRefused", "code": "ADMIN_ONLY"}
    assert not await RecoveryRequest.filter(account_id=owner.id).exists()

    proposed = (await gql(EMAIL_CHANGE, {"n": number}, **auth(proposer_session)))["requestRecoveryEmailChange"]
    assert proposed["recovery"]["status"] == "AWAITING_APPROVAL", proposed
    recovery_id = proposed["recovery"]["id"]
    refusals = []
    if role == Role.ADMIN:  # the owner may not approve the move of their own account
        refusals.append((owner_session, "SELF"))
    refusals.append((proposer_session, "SAME_APPROVER"))
    for session, code in refusals:
        answer = (await gql(APPROVE, {"r": recovery_id}, **auth(session)))["approveRecoveryEmailChange"]
        assert answer == {"__typename": "ActionRefused", "code": code}
    assert (await RecoveryRequest.get(id=recovery_id)).status == RecoveryStatus.AWAITING_APPROVAL
    approved = (await gql(APPROVE, {"r": recovery_id}, **auth(approver_session)))["approveRecoveryEmailChange"]
    assert approved["recovery"] == {"status": "SENT", "decidedById": str(approver.id)}
    refused = await AuditEvent.filter(ticket_number=number, action="recovery.refused").count()
    assert refused == len(refusals) + 1  # every refusal is audited


async def test_rejected_or_unverified_cases_change_nothing(gql, app, rt, make_account):
    owner = await make_account(phone=random_phone())
    number, _ = await anonymous_ticket(app, accountIdentifier=owner.email)
    staff, session = await staff_member(gql, make_account)
    admin, admin_session = await staff_member(gql, make_account, Role.ADMIN)

    await gql(VERIFY_OWNERSHIP, {"n": number, "a": owner.email, "o": "NOT_VERIFIED", "e": ["FULL_NAME"]}, **auth(session))
    for query, name in ((SEND_RESET_LINK, "sendRecoveryResetLink"), (EMAIL_CHANGE, "requestRecoveryEmailChange")):
        answer = (await gql(query, {"n": number}, **auth(session)))[name]
        assert answer == {"__typename": "ActionRefused", "code": "NOT_VERIFIED"}

    await gql(VERIFY_OWNERSHIP, {"n": number, "a": owner.email, "o": "VERIFIED", "e": ["FULL_NAME"]}, **auth(session))
    proposed = (await gql(EMAIL_CHANGE, {"n": number}, **auth(session)))["requestRecoveryEmailChange"]
    rejected = await gql(REJECT, {"r": proposed["recovery"]["id"]}, **auth(admin_session))
    assert rejected["rejectRecoveryEmailChange"]["recovery"]["status"] == "REJECTED"
    assert (await Account.get(id=owner.id)).email == owner.email
    assert await AuditEvent.filter(ticket_number=number, action="recovery.email_change_rejected",
                                   actor_id=admin.id).exists()
    same = (await gql(EMAIL_CHANGE, {"n": number, "e": owner.email.upper()}, **auth(session)))
    assert same["requestRecoveryEmailChange"]["code"] == "SAME_EMAIL"


async def test_queue_filters_paginate_and_reject_bad_input(gql, app, make_account, on_postgres):
    staff, session = await staff_member(gql, make_account)
    marker = unique("Фамилия")
    numbers = [(await anonymous_ticket(app, fullName=f"{marker} {i}"))[0] for i in range(5)]
    seen: list[str] = []
    after = None
    while True:
        page = (await gql(QUEUE, {"search": marker, "first": 2, "after": after}, **auth(session)))
        connection = page["supportTickets"]
        assert connection["totalCount"] == 5
        seen += [n["number"] for n in connection["nodes"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert seen == list(reversed(numbers))
    if on_postgres:  # SQLite folds the case of ASCII letters only
        lower = (await gql(QUEUE, {"search": marker.lower()}, **auth(session)))["supportTickets"]
        assert lower["totalCount"] == 5
    await gql(STATUS, {"n": numbers[0], "s": "RESOLVED"}, **auth(session))
    resolved = (await gql(QUEUE, {"search": marker, "status": "RESOLVED"}, **auth(session)))["supportTickets"]
    assert [n["number"] for n in resolved["nodes"]] == [numbers[0]]
    bad = (await gql(QUEUE, {"after": "garbage"}, **auth(session)))["supportTickets"]
    assert bad["fields"] == [{"field": "after", "code": "INVALID_CURSOR"}]
    again = await gql(STATUS, {"n": numbers[0], "s": "RESOLVED"}, **auth(session))
    assert again["changeSupportTicketStatus"]["code"] == "UNCHANGED"
    nobody = await gql(DETAILS, {"n": "1999-000001"}, **auth(session))
    assert nobody["supportTicketDetails"]["__typename"] == "NotFound"


async def test_erasure_anonymises_tickets_and_keeps_consent(gql, app, rt, make_account):
    from portal.models.support import Ticket

    owner = await make_account(phone=random_phone())
    number, _ = await anonymous_ticket(app, accountIdentifier=owner.email, phone=owner.phone)
    staff, session = await staff_member(gql, make_account)
    await gql(VERIFY_OWNERSHIP, {"n": number, "a": owner.email, "o": "VERIFIED", "e": ["FULL_NAME"]}, **auth(session))
    await gql(NOTE, {"n": number, "b": f"Паспорт {owner.full_name}"}, **auth(session))
    admin, admin_session = await staff_member(gql, make_account, Role.ADMIN)
    exported = await gql(EXPORT, {"a": str(owner.id)}, **auth(admin_session))
    data = json.loads(exported["exportAccountData"]["data"])
    assert [t["number"] for t in data["tickets"]] == [number]
    assert "access_key_hash" not in data["tickets"][0] and data["ticket_notes"]

    erased = await gql(ERASE, {"a": str(owner.id)}, **auth(admin_session))
    assert json.loads(erased["eraseAccount"]["summary"])["tickets_anonymised"] == 1
    ticket = await Ticket.get(number=number)
    assert ticket.full_name == "[удалено]" and ticket.phone == "" and ticket.reply_email is None
    assert ticket.consent_given_at is not None and ticket.consent_version  # consent stays provable
    event = await AuditEvent.get(action="account.erased", actor_id=admin.id)
    assert number in json.dumps(event.details)


async def test_unlock_lifts_the_sign_in_lock_and_staff_cannot_manage_staff(gql, rt, make_account):
    from portal.core.client import ClientInfo
    from portal.core.errors import TooMany
    from portal.identity import signin
    from portal.identity.sessions import IssuedSession
    from tests.helpers import new_address

    _, session = await staff_member(gql, make_account, Role.STAFF)
    colleague = await make_account(role=Role.STAFF)
    answer = await gql(UNLOCK, {"a": str(colleague.id)}, **auth(session))
    assert answer["unlockAccount"] == {"__typename": "ActionRefused", "code": "ADMIN_ONLY"}

    resident = await make_account()
    for _ in range(5):
        await signin.login(rt, resident.email, "not the password at all", ClientInfo(address=new_address()))
    locked = await signin.login(rt, resident.email, PASSWORD, ClientInfo(address=new_address()))
    assert isinstance(locked, TooMany)
    ok = await gql(UNLOCK, {"a": str(resident.id)}, **auth(session))
    assert ok["unlockAccount"]["__typename"] == "AccountUpdated"
    after = await signin.login(rt, resident.email, PASSWORD, ClientInfo(address=new_address()))
    assert isinstance(after, IssuedSession)
    assert await AuditEvent.filter(subject_id=resident.id, action="account.unlocked").exists()


SURNAMES = [
    "Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Михайлов", "Новиков", "Фёдоров",
    "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров", "Павлов", "Козлов", "Степанов", "Николаев",
    "Орлов", "Андреев", "Макаров", "Никитин", "Захаров", "Зайцев", "Соловьёв", "Борисов", "Яковлев", "Григорьев",
]
GIVEN = ["Иван", "Пётр", "Мария", "Анна", "Сергей", "Ольга", "Дмитрий", "Елена", "Алексей", "Татьяна", "Андрей",
         "Наталья", "Михаил", "Ирина", "Николай", "Светлана", "Владимир", "Юлия", "Павел", "Екатерина"]


def synthetic_name(i: int) -> str:
    """10,000 plausible, varied names: 30 surnames x 20 given names x a two-digit house number."""
    return f"{SURNAMES[i % 30]} {GIVEN[(i // 30) % 20]} кв{i % 97}"


async def test_queue_over_ten_thousand_tickets(gql, make_account, rt, on_postgres):
    """Bulk-inserts 10,000 tickets and pages through them: first page, deep cursor, filter, searches.

    Correctness only: the p95 of a page of 50 is measured by `make bench` (bench/desk.py), never asserted here.
    """
    from portal.models.accounts import Account as AccountModel
    from portal.models.support import Ticket, TicketCategory, TicketStatus
    from portal.support import desk

    batch = f"{random.randint(0, 999_999):06d}"
    now = rt.clock.now()
    statuses = list(TicketStatus)
    rows = [
        Ticket(
            number=f"2099-{batch}{i:05d}", status=statuses[i % len(statuses)], category=TicketCategory.OTHER,
            full_name=synthetic_name(i), registration_address="г. Пермь, ул. Мира, д. 1",
            phone=f"+7999{batch}{i % 10}", account_identifier=f"b{batch}.{i}@example.ru", reply_email=None,
            description="bulk", locale="ru", access_key_hash="0" * 64, content_hash=f"{batch}{i}",
            consent_given_at=now, consent_version="bulk", created_at=now, updated_at=now,
        )
        for i in range(10_000)
    ]
    await Ticket.bulk_create(rows, batch_size=1000)
    if on_postgres:  # fresh statistics after a bulk load, as autovacuum would soon give them
        from tortoise.connection import get_connection

        await get_connection("default").execute_script("ANALYZE support_tickets")
    staff, session = await staff_member(gql, make_account)
    staff_row = await AccountModel.get(id=staff.id)

    page = await desk.list_tickets(rt, staff=staff_row, first=50)
    assert page.total_count >= 10_000 and page.items[0].number == f"2099-{batch}09999"
    cursor = page.end_cursor
    for _ in range(100):  # walk 100 pages deep by cursor: each page is one keyset step
        page = await desk.list_tickets(rt, staff=staff_row, first=50, after=cursor)
        cursor = page.end_cursor
    assert page.items[0].number == f"2099-{batch}{10_000 - 1 - 100 * 50:05d}"

    name = synthetic_name(4242)
    scenarios: dict[str, dict[str, Any]] = {
        "first page": {},
        "deep cursor": {"after": cursor},
        "status filter": {"status": "WAITING_FOR_RESIDENT"},
        "search name": {"search": name},
        "search surname": {"search": SURNAMES[7]},
        "search e-mail": {"search": f"b{batch}.4242@example.ru"},
        "search phone": {"search": f"8 999 {batch}5"},
        "search number": {"search": f"2099-{batch}04242"},
    }
    totals: dict[str, int] = {}
    for label, variables in scenarios.items():
        status = TicketStatus(variables["status"].lower()) if "status" in variables else None
        kwargs = {k: v for k, v in variables.items() if k != "status"}
        found = await desk.list_tickets(rt, staff=staff_row, status=status, first=50, **kwargs)
        totals[label] = found.total_count
        data = (await gql(QUEUE, {"first": 50, **variables}, **auth(session)))["supportTickets"]
        assert data["totalCount"] == found.total_count, label
    expected_name = sum(1 for i in range(10_000) if synthetic_name(i) == name)
    assert totals["search name"] >= expected_name >= 1
    assert totals["search surname"] >= 10_000 // 30
    assert totals["search e-mail"] == totals["search number"] == 1
    assert totals["search phone"] == 1000


async def test_a_reset_link_to_the_old_address_dies_with_an_e_mail_change(gql, app, rt, make_account, smtp_sink):
    """docs/security.md #11: a link mailed to the old address before the address changed never works afterwards."""
    owner = await make_account(phone=random_phone())
    old_email, new_email = owner.email, unique("moved") + "@example.ru"
    async with client_at(app) as c:
        asked = await GQL(c)("mutation($i: String!) { requestPasswordReset(identifier: $i) { __typename } }",
                             {"i": old_email})
    assert asked["requestPasswordReset"]["__typename"] == "PasswordResetRequested"
    await drain(rt)
    old_link = token_from([m for m in await smtp_sink.wait_for(old_email) if "reset-password" in m.text][-1])

    number, _ = await anonymous_ticket(app, accountIdentifier=owner.phone, phone=owner.phone, replyEmail=new_email)
    _, requester = await staff_member(gql, make_account, Role.ADMIN)
    _, staff = await staff_member(gql, make_account, Role.STAFF)
    _, approver = await staff_member(gql, make_account, Role.ADMIN)
    verified = await gql(VERIFY_OWNERSHIP, {"n": number, "a": old_email, "o": "VERIFIED", "e": ["FULL_NAME", "PHONE_ON_FILE"]},
                         **auth(staff))
    assert verified["verifyTicketOwnership"]["__typename"] == "OwnershipRecorded"
    proposed = (await gql(EMAIL_CHANGE, {"n": number}, **auth(requester)))["requestRecoveryEmailChange"]
    approved = await gql(APPROVE, {"r": proposed["recovery"]["id"]}, **auth(approver))
    assert approved["approveRecoveryEmailChange"]["recovery"]["status"] == "SENT"
    await drain(rt)
    new_link = token_from([m for m in smtp_sink.to(new_email) if "reset-password" in m.text][-1])
    assert (await reset(gql, old_link, NEW_PASSWORD))["__typename"] == "InvalidToken"
    assert (await reset(gql, new_link, NEW_PASSWORD))["__typename"] == "PasswordResetSucceeded"
    assert (await Account.get(id=owner.id)).email == new_email
    assert (await reset(gql, old_link, "yet another passphrase, later"))["__typename"] == "InvalidToken"


async def test_a_reset_link_stays_dead_after_disable_and_enable(gql, app, rt, make_account, smtp_sink):
    """docs/security.md #11: disabling an account (the staff desk's own path) kills its reset link for good."""
    owner = await make_account()
    async with client_at(app) as c:
        await GQL(c)("mutation($i: String!) { requestPasswordReset(identifier: $i) { __typename } }",
                     {"i": owner.email})
    await drain(rt)
    link = token_from((await smtp_sink.wait_for(owner.email))[-1])
    _, admin = await staff_member(gql, make_account, Role.ADMIN)
    disable = """mutation($a: ID!) { disableAccount(accountId: $a, reason: "lost phone") { __typename } }"""
    enable = """mutation($a: ID!) { enableAccount(accountId: $a) { __typename } }"""
    assert (await gql(disable, {"a": str(owner.id)}, **auth(admin)))["disableAccount"]["__typename"] == "AccountUpdated"
    assert (await reset(gql, link, NEW_PASSWORD))["__typename"] == "InvalidToken"
    assert (await gql(enable, {"a": str(owner.id)}, **auth(admin)))["enableAccount"]["__typename"] == "AccountUpdated"
    assert (await reset(gql, link, NEW_PASSWORD))["__typename"] == "InvalidToken"
    assert (await gql(LOGIN_TYPENAME, {"i": owner.email, "p": PASSWORD}))["login"]["__typename"] == "LoginSuccess"
