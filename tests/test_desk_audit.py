"""The staff desk's audit trail (issue 10): every step, refusals too, with actor, subject, ticket and address."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from portal.models.accounts import Role
from portal.models.audit import AuditEvent
from tests.helpers import (
    APPROVE,
    ASSIGN,
    DETAILS,
    EMAIL_CHANGE,
    GQL,
    NOTE,
    PUBLIC_URL,
    REJECT,
    SEND_RESET_LINK,
    STATUS,
    VERIFY_OWNERSHIP,
    anonymous_ticket,
    auth,
    new_address,
    random_phone,
    sign_in,
    unique,
)


@pytest.fixture
async def desk(app) -> AsyncIterator[tuple[GQL, str]]:
    """The staff's browser, from an address of its own, so every event it causes can be told apart."""
    address = new_address()
    transport = httpx.ASGITransport(app=app, client=(address, 41000))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as c:
        yield GQL(c), address


async def refusals(number: str) -> list[AuditEvent]:
    return list(await AuditEvent.filter(ticket_number=number, action="recovery.refused").order_by("id"))


async def test_every_desk_step_is_audited_with_actor_ticket_and_client_address(app, desk, make_account):
    gql, address = desk
    owner = await make_account(phone=random_phone())
    number, _ = await anonymous_ticket(app, accountIdentifier=owner.email, phone=owner.phone)
    staff = await make_account(role=Role.STAFF, full_name=f"Сотрудник {unique()}")
    session = auth(await sign_in(gql, staff.email))

    assert (await gql(DETAILS, {"n": number}, **session))["supportTicketDetails"]["number"] == number
    await gql(ASSIGN, {"n": number}, **session)
    await gql(STATUS, {"n": number, "s": "IN_PROGRESS", "m": "Проверяем."}, **session)
    await gql(NOTE, {"n": number, "b": "Позвонить вечером."}, **session)
    await gql(VERIFY_OWNERSHIP, {"n": number, "a": owner.email, "o": "VERIFIED", "e": ["FULL_NAME", "PHONE_ON_FILE"]}, **session)
    assert (await gql(SEND_RESET_LINK, {"n": number}, **session))["sendRecoveryResetLink"]["recovery"]["status"] == "SENT"

    events = await AuditEvent.filter(ticket_number=number, actor_id=staff.id).order_by("id")
    assert [e.action for e in events] == [
        "ticket.viewed", "ticket.assigned", "ticket.status_changed", "ticket.note_added",
        "ticket.ownership_verified", "recovery.reset_link_sent",
    ]
    assert all(e.client_address == address for e in events), [(e.action, e.client_address) for e in events]
    # Steps about an account name it as the subject; ticket-only steps are about the ticket (its number).
    assert [e.subject_id for e in events[-2:]] == [owner.id, owner.id]
    status = next(e for e in events if e.action == "ticket.status_changed")
    assert status.details == {"from": "new", "to": "in_progress"} and status.user_agent


async def test_refused_recovery_attempts_are_audited_with_the_reason(app, desk, make_account):
    gql, address = desk
    owner = await make_account(phone=random_phone())
    number, _ = await anonymous_ticket(app, accountIdentifier=owner.email, replyEmail=unique("new") + "@example.ru")
    staff = await make_account(role=Role.STAFF, full_name=f"Сотрудник {unique()}")
    requester = await make_account(role=Role.ADMIN, full_name=f"Админ {unique()}")
    approver = await make_account(role=Role.ADMIN, full_name=f"Админ {unique()}")
    staff_s = auth(await sign_in(gql, staff.email))
    requester_s = auth(await sign_in(gql, requester.email))
    approver_s = auth(await sign_in(gql, approver.email))

    # Recovery on a ticket nobody verified: refused, and the attempt is on record.
    refused = (await gql(SEND_RESET_LINK, {"n": number}, **staff_s))["sendRecoveryResetLink"]
    assert refused == {"__typename": "ActionRefused", "code": "NOT_VERIFIED"}
    await gql(VERIFY_OWNERSHIP, {"n": number, "a": owner.email, "o": "NOT_VERIFIED", "e": ["FULL_NAME"]}, **staff_s)
    refused = (await gql(EMAIL_CHANGE, {"n": number}, **staff_s))["requestRecoveryEmailChange"]
    assert refused["code"] == "NOT_VERIFIED"

    await gql(VERIFY_OWNERSHIP, {"n": number, "a": owner.email, "o": "VERIFIED", "e": ["FULL_NAME"]}, **staff_s)
    same = (await gql(EMAIL_CHANGE, {"n": number, "e": owner.email}, **staff_s))["requestRecoveryEmailChange"]
    assert same["code"] == "SAME_EMAIL"
    proposed = (await gql(EMAIL_CHANGE, {"n": number}, **requester_s))["requestRecoveryEmailChange"]
    recovery_id = proposed["recovery"]["id"]

    # Approval by a non-admin (refused by the role guard before the desk), by the requester, and twice.
    assert (await gql(APPROVE, {"r": recovery_id}, **staff_s))["approveRecoveryEmailChange"]["__typename"] == "Forbidden"
    assert (await gql(REJECT, {"r": recovery_id}, **staff_s))["rejectRecoveryEmailChange"]["__typename"] == "Forbidden"
    assert (await gql(APPROVE, {"r": recovery_id}, **requester_s))["approveRecoveryEmailChange"]["code"] == "SAME_APPROVER"
    assert (await gql(APPROVE, {"r": recovery_id}, **approver_s))["approveRecoveryEmailChange"]["recovery"]
    assert (await gql(REJECT, {"r": recovery_id}, **approver_s))["rejectRecoveryEmailChange"]["code"] == "ALREADY_DECIDED"

    rows = await refusals(number)
    seen = [(e.actor_id, e.details["step"], e.details["reason"]) for e in rows]
    assert seen == [
        (staff.id, "reset_link", "NOT_VERIFIED"),
        (staff.id, "email_change_request", "NOT_VERIFIED"),
        (staff.id, "email_change_request", "SAME_EMAIL"),
        (staff.id, "email_change_approval", "ADMIN_ONLY"),
        (staff.id, "email_change_rejection", "ADMIN_ONLY"),
        (requester.id, "email_change_approval", "SAME_APPROVER"),
        (approver.id, "email_change_rejection", "ALREADY_DECIDED"),
    ]
    assert all(e.client_address == address for e in rows)
    assert rows[0].subject_id is None  # no account linked to the ticket yet
    assert all(e.subject_id == owner.id for e in rows[1:])
    assert all(e.details["recovery_id"] == recovery_id for e in rows[3:])


async def test_an_anonymous_caller_leaves_no_refusal_and_a_bad_id_is_still_recorded(app, desk, make_account, client):
    gql, _ = desk
    before = await AuditEvent.filter(action="recovery.refused").count()
    anonymous = await GQL(client)(APPROVE, {"r": "00000000-0000-0000-0000-000000000000"})
    assert anonymous["approveRecoveryEmailChange"]["__typename"] == "NotAuthenticated"
    assert await AuditEvent.filter(action="recovery.refused").count() == before

    staff = await make_account(role=Role.STAFF, full_name=f"Сотрудник {unique()}")
    forbidden = await gql(APPROVE, {"r": "not-a-uuid"}, **auth(await sign_in(gql, staff.email)))
    assert forbidden["approveRecoveryEmailChange"]["__typename"] == "Forbidden"
    event = await AuditEvent.filter(action="recovery.refused", actor_id=staff.id).get()
    assert event.details == {"reason": "ADMIN_ONLY", "step": "email_change_approval"} and event.ticket_number is None
