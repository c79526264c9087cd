"""Support tickets: the anonymous and signed-in journeys, validation, idempotency, numbering under
concurrency, status lookup, the owner's notice and throttling; on the real database and SMTP sink."""

from __future__ import annotations

import asyncio
import random
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from portal.core.client import ClientInfo
from portal.core.errors import FieldProblem
from portal.identity.identifiers import parse_identifier
from portal.mail.delivery import deliver_due
from portal.models.accounts import Role
from portal.models.audit import AuditEvent
from portal.models.mail import OutboxMessage
from portal.models.support import Ticket, TicketEvent, TicketStatus
from portal.support.tickets.letters import OWNER_NOTICES_PER_ACCOUNT
from portal.support.tickets.status import change_status
from portal.support.tickets.submission import (
    ANONYMOUS_LIMIT,
    CONSENT_VERSION,
    SubmitOutcome,
    Submitted,
    named_identifier,
    submit_ticket,
)
from portal.support.tickets.validation import CleanForm, TicketForm, validate
from tests.helpers import GQL, PUBLIC_URL, SUBMIT, form, sign_in, unique

LOOKUP = """
query($number: String!, $key: String!) {
  supportTicket(number: $number, accessKey: $key) {
    number status category createdAt updatedAt messages { body createdAt }
  }
}
"""
MINE = "{ mySupportTickets { number status category messages { body } } }"
NUMBER_RE = re.compile(r"^\d{4}-\d{6,}$")


def bearer(token: str) -> dict[str, dict[str, str]]:
    return {"headers": {"Authorization": f"Bearer {token}"}}


def random_address() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


@pytest.fixture
async def anon(app: Any):  # type: ignore[no-untyped-def]
    """A GraphQL client from an address of its own, so the per-address throttle of one test never
    touches another."""
    transport = httpx.ASGITransport(app=app, client=(random_address(), 40000))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as c:
        yield GQL(c)


@pytest.fixture(scope="module", autouse=True)
async def _drain_outbox(rt: Any):  # type: ignore[no-untyped-def]
    """Leaves no letter of these tests pending for the test files that run after them."""
    yield
    await deliver(rt)


async def submit(gql: GQL, values: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return (await gql(SUBMIT, {"input": values}, **kwargs))["submitSupportTicket"]


async def deliver(rt: Any) -> None:
    """Runs the mail engineer's delivery until the outbox has nothing due."""
    for _ in range(100):
        if (await deliver_due(rt)).claimed == 0:
            return


def status_link(text: str) -> str:
    match = re.search(r"http://\S+/support/status\?\S+", text)
    assert match, text
    return match.group(0)


async def test_anonymous_journey(anon, rt, smtp_sink):
    values = form()
    answer = await submit(anon, values)
    assert answer["__typename"] == "SupportTicketSubmitted", answer
    ticket = answer["ticket"]
    number, key = ticket["number"], answer["accessKey"]
    assert NUMBER_RE.match(number) and number.startswith(f"{rt.clock.now().year}-")
    assert ticket["status"] == "NEW" and ticket["category"] == "ACCOUNT_ACCESS" and ticket["messages"] == []
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", key)

    # stored: normalised, consent with time and text version, the key only as a keyed hash
    row = await Ticket.get(number=number)
    assert row.account_id is None and row.phone == "+79123456789" and row.reply_email == values["replyEmail"]
    assert row.description == values["description"]
    assert row.consent_version == CONSENT_VERSION and row.consent_given_at is not None
    assert key not in (row.access_key_hash, row.content_hash) and len(row.access_key_hash) == 64
    events = await TicketEvent.filter(ticket_id=row.id)
    assert [(e.from_status, e.to_status, e.actor_id) for e in events] == [(None, TicketStatus.NEW, None)]
    audit = await AuditEvent.get(action="ticket.submitted", ticket_number=number)
    assert audit.subject_id is None and audit.client_address is not None

    # the confirmation letter carries the number and a working status link built from PORTAL_PUBLIC_URL
    await deliver(rt)
    [letter] = await smtp_sink.wait_for(values["replyEmail"])
    assert number in letter.subject and number in letter.text
    link = status_link(letter.text)
    assert link.startswith(f"{PUBLIC_URL}/support/status?")
    query = parse_qs(urlsplit(link).query)
    assert query == {"number": [number], "key": [key]}
    assert link.replace("&", "&amp;") in letter.html  # the HTML part carries the same link
    found = (await anon(LOOKUP, {"number": number, "key": key}))["supportTicket"]
    assert found["number"] == number and found["status"] == "NEW"

    # staff answer publicly: the status page shows the new status and the message; the history keeps the actor
    staff_event = await change_status(
        rt, row, TicketStatus.WAITING_FOR_RESIDENT, actor_id=None, public_message="Позвоните нам, пожалуйста."
    )
    assert staff_event is not None
    found = (await anon(LOOKUP, {"number": number, "key": key}))["supportTicket"]
    assert found["status"] == "WAITING_FOR_RESIDENT"
    assert [m["body"] for m in found["messages"]] == ["Позвоните нам, пожалуйста."]
    assert found["updatedAt"] >= found["createdAt"]


async def test_english_letter_and_messages(anon, rt, smtp_sink):
    values = form(category="BILLING")
    answer = await submit(anon, values, headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert answer["ticket"]["category"] == "BILLING"
    await deliver(rt)
    [letter] = await smtp_sink.wait_for(values["replyEmail"])
    assert letter.subject == f"Support request {answer['ticket']['number']} received"
    assert "charges and payments" in letter.text
    bad = await submit(anon, form(phone="12"), headers={"Accept-Language": "en"})
    assert bad["fields"][0]["message"].startswith("Please enter a valid phone number")


async def test_signed_in_journey(client, gql, anon, rt, smtp_sink, make_account):
    account = await make_account()
    other = await make_account()
    session = await sign_in(gql, account.email)
    answer = await submit(gql, form(replyEmail=None), **bearer(session["accessToken"]))
    assert answer["__typename"] == "SupportTicketSubmitted", answer
    number = answer["ticket"]["number"]
    row = await Ticket.get(number=number)
    assert row.account_id == account.id
    event = await TicketEvent.get(ticket_id=row.id)
    assert event.actor_id == account.id
    audit = await AuditEvent.get(action="ticket.submitted", ticket_number=number)
    assert audit.subject_id == account.id

    await deliver(rt)
    [letter] = await smtp_sink.wait_for(account.email)  # no replyEmail: the account's own address
    assert number in letter.text

    mine = (await gql(MINE, **bearer(session["accessToken"])))["mySupportTickets"]
    assert [t["number"] for t in mine] == [number]
    other_session = await sign_in(gql, other.email)
    assert (await gql(MINE, **bearer(other_session["accessToken"])))["mySupportTickets"] == []
    assert (await anon(MINE))["mySupportTickets"] == []


async def test_without_any_address_the_ticket_is_still_created(anon, rt):
    before = await OutboxMessage.filter(template="ticket_submitted").count()
    answer = await submit(anon, form(replyEmail=None))
    assert answer["__typename"] == "SupportTicketSubmitted"
    found = (await anon(LOOKUP, {"number": answer["ticket"]["number"], "key": answer["accessKey"]}))["supportTicket"]
    assert found is not None
    assert await OutboxMessage.filter(template="ticket_submitted").count() == before


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"fullName": "   "}, "fullName", "REQUIRED"),
        ({"fullName": "Я" * 201}, "fullName", "TOO_LONG"),
        ({"registrationAddress": ""}, "registrationAddress", "REQUIRED"),
        ({"registrationAddress": "д" * 501}, "registrationAddress", "TOO_LONG"),
        ({"phone": " "}, "phone", "REQUIRED"),
        ({"phone": "+7 000"}, "phone", "INVALID_PHONE"),
        ({"phone": "позвоните мне"}, "phone", "INVALID_PHONE"),
        ({"phone": "8" * 40}, "phone", "TOO_LONG"),
        ({"accountIdentifier": "  "}, "accountIdentifier", "REQUIRED"),
        ({"accountIdentifier": "a" * 250 + "@x.ru"}, "accountIdentifier", "TOO_LONG"),
        ({"replyEmail": "not-an-email"}, "replyEmail", "INVALID_EMAIL"),
        ({"replyEmail": "a" * 250 + "@example.ru"}, "replyEmail", "TOO_LONG"),
        ({"description": "\n  \n"}, "description", "REQUIRED"),
        ({"description": "ы" * 5001}, "description", "TOO_LONG"),
        ({"description": "звонок\x07"}, "description", "INVALID_CHARACTERS"),
        ({"description": "tab\there"}, "description", "INVALID_CHARACTERS"),
        ({"personalDataConsent": False}, "personalDataConsent", "CONSENT_REQUIRED"),
        ({"idempotencyKey": "k" * 201}, "idempotencyKey", "TOO_LONG"),
    ],
)
async def test_every_validation_code(anon, overrides, field, code):
    answer = await submit(anon, form(**overrides))
    assert answer["__typename"] == "ValidationError", answer
    assert [(f["field"], f["code"]) for f in answer["fields"]] == [(field, code)]
    assert answer["fields"][0]["message"]
    if code == "TOO_LONG":
        limits = {"fullName": 200, "registrationAddress": 500, "description": 5000, "accountIdentifier": 254,
                  "replyEmail": 254, "phone": 32, "idempotencyKey": 200}
        assert str(limits[field]) in answer["fields"][0]["message"]


async def test_all_problems_reported_at_once(anon):
    answer = await submit(
        anon, form(fullName="", registrationAddress="", phone="x", description="", personalDataConsent=False)
    )
    codes = {(f["field"], f["code"]) for f in answer["fields"]}
    assert codes == {
        ("fullName", "REQUIRED"),
        ("registrationAddress", "REQUIRED"),
        ("phone", "INVALID_PHONE"),
        ("description", "REQUIRED"),
        ("personalDataConsent", "CONSENT_REQUIRED"),
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("fullName", "Мария\r\nBcc: victim@example.ru"),
        ("fullName", "Мария\nСоколова"),
        ("replyEmail", "reply@example.ru\r\nBcc: victim@example.ru"),
        ("replyEmail", "reply@example.ru\n"),
        ("replyEmail", "reply@exa\x00mple.ru"),
        ("phone", "+7 912 345-67-89\r\nBcc: victim@example.ru"),
        ("phone", "+7 912\n345-67-89"),
        ("accountIdentifier", "ivan\r\nBcc: victim@example.ru"),
        ("registrationAddress", "ул. Ленина\r\nд. 5"),
        ("idempotencyKey", "key\r\nX-Injected: 1"),
    ],
)
async def test_header_injection_is_refused(anon, rt, field, value):
    before = await Ticket.all().count()
    answer = await submit(anon, form(**{field: value}))
    assert answer["__typename"] == "ValidationError", answer
    assert [(f["field"], f["code"]) for f in answer["fields"]] == [(field, "INVALID_CHARACTERS")]
    assert await Ticket.all().count() == before


async def test_description_keeps_its_line_breaks(anon):
    answer = await submit(anon, form(description="Первая строка\r\nвторая строка\rтретья"))
    row = await Ticket.get(number=answer["ticket"]["number"])
    assert row.description == "Первая строка\nвторая строка\nтретья"


async def test_idempotent_retry_returns_the_same_ticket_and_sends_one_letter(anon, gql, rt, smtp_sink, make_account):
    values = form(idempotencyKey=unique("idem-"))
    first = await submit(anon, values)
    second = await submit(anon, {**values, "fullName": "  Мария  Ивановна Соколова "})  # same after normalising
    assert first["__typename"] == second["__typename"] == "SupportTicketSubmitted"
    assert second["ticket"]["number"] == first["ticket"]["number"]
    assert second["accessKey"] == first["accessKey"]
    found = await anon(LOOKUP, {"number": first["ticket"]["number"], "key": second["accessKey"]})
    assert found["supportTicket"] is not None

    row = await Ticket.get(number=first["ticket"]["number"])
    stored = " ".join(str(v) for v in (await Ticket.filter(id=row.id).values())[0].values())
    assert values["idempotencyKey"] not in stored and first["accessKey"] not in stored  # a dump opens nothing

    other = await submit(anon, {**values, "description": "Совсем другая просьба."})
    assert other["__typename"] == "ValidationError"
    assert [(f["field"], f["code"]) for f in other["fields"]] == [("idempotencyKey", "IDEMPOTENCY_KEY_REUSED")]

    # keys are scoped: a signed-in resident using the same key files a ticket of their own
    account = await make_account()
    session = await sign_in(gql, account.email)
    own = await submit(gql, values, **bearer(session["accessToken"]))
    assert own["__typename"] == "SupportTicketSubmitted"
    assert own["ticket"]["number"] != first["ticket"]["number"]

    await deliver(rt)
    await asyncio.sleep(0.2)
    assert len(await smtp_sink.wait_for(values["replyEmail"], count=2)) == 2  # the anonymous one + the scoped one
    assert await OutboxMessage.filter(to_address=values["replyEmail"]).count() == 2


async def test_twenty_concurrent_identical_submissions_make_one_ticket_and_one_letter(anon, rt, smtp_sink):
    values = form(idempotencyKey=unique("burst-"))
    answers = await asyncio.gather(*(submit(anon, values) for _ in range(20)))
    assert {a["__typename"] for a in answers} == {"SupportTicketSubmitted"}, answers
    assert len({a["ticket"]["number"] for a in answers}) == 1
    assert len({a["accessKey"] for a in answers}) == 1
    assert await Ticket.filter(reply_email=values["replyEmail"]).count() == 1
    assert await OutboxMessage.filter(to_address=values["replyEmail"]).count() == 1
    await deliver(rt)
    await smtp_sink.wait_for(values["replyEmail"])
    await asyncio.sleep(0.2)
    assert len(smtp_sink.to(values["replyEmail"])) == 1


async def test_concurrent_submissions_get_unique_consecutive_numbers(rt, on_postgres):
    count = 200 if on_postgres else 40
    description = unique("concurrency ")

    async def one(i: int) -> SubmitOutcome:
        values = TicketForm(
            full_name=f"Житель {i}",
            registration_address="ул. Мира, д. 1",
            phone="+7 912 345-67-89",
            account_identifier=unique("acc"),
            description=description,
            personal_data_consent=True,
        )
        client = ClientInfo(address=f"198.51.{i // 250}.{i % 250}")  # residents from many addresses
        return await submit_ticket(rt, values, account=None, client=client)

    outcomes = await asyncio.gather(*(one(i) for i in range(count)))
    refused = [o for o in outcomes if not isinstance(o, Submitted)]
    assert not refused, refused[:3]
    numbers = [o.view.ticket.number for o in outcomes]  # type: ignore[union-attr]
    assert len(set(numbers)) == count
    sequence = sorted(int(n.split("-")[1]) for n in numbers)
    assert sequence == list(range(sequence[0], sequence[0] + count))  # no clash, no gap
    assert await Ticket.filter(description=description).count() == count


async def test_lookup_refuses_any_mismatch(anon):
    a = await submit(anon, form())
    b = await submit(anon, form())
    number_a, key_a, key_b = a["ticket"]["number"], a["accessKey"], b["accessKey"]
    year = number_a.split("-")[0]
    for number, key in [
        (number_a, key_b),  # another ticket's key
        (number_a, key_a[:-1] + ("A" if key_a[-1] != "A" else "B")),  # wrong key
        (number_a, ""),
        (number_a, "x" * 10_000),
        (f"{year}-999999999", key_a),  # unknown number
        ("", key_a),
        ("2026-12", key_a),
        (number_a.replace("-", "/"), key_a),
    ]:
        assert (await anon(LOOKUP, {"number": number, "key": key}))["supportTicket"] is None, (number, key)
    assert (await anon(LOOKUP, {"number": f" {number_a} ", "key": key_a}))["supportTicket"]["number"] == number_a


async def test_the_owner_is_told_and_the_answer_does_not_say_so(anon, rt, smtp_sink, make_account):
    login = unique("owner.")
    owner = await make_account(login=login, preferred_language="en")
    without_email = await make_account(email=None, login=unique("noemail."))

    answers = {}
    for label, identifier in [
        ("login", login.upper()),
        ("email", f"  {owner.email.upper()} "),
        ("unknown", unique("nobody.") + "@example.ru"),
        ("no-email", without_email.login),
        ("garbage", "не помню, что-то вроде ivan"),
    ]:
        values = form(accountIdentifier=identifier)
        answers[label] = (values, await submit(anon, values))
    for _values, answer in answers.values():
        assert answer["__typename"] == "SupportTicketSubmitted"
        assert set(answer) == {"__typename", "accessKey", "ticket"}

    await deliver(rt)
    notices = await smtp_sink.wait_for(owner.email, count=2)
    assert len(notices) == 2
    expected = {answers["login"][1]["ticket"]["number"], answers["email"][1]["ticket"]["number"]}
    assert {n for letter in notices for n in re.findall(r"\d{4}-\d{6,}", letter.text)} == expected
    for letter in notices:
        assert letter.subject == "A support request about access to your account"  # the owner's language
        assert "/support/status" not in letter.text + letter.html and "key=" not in letter.text + letter.html
        assert f"{PUBLIC_URL}/support" in letter.text
    # the resident's confirmation reads the same whether or not the identifier matched
    texts = []
    for _label, (values, answer) in answers.items():
        [letter] = await smtp_sink.wait_for(values["replyEmail"])
        texts.append(letter.text.replace(answer["ticket"]["number"], "N").replace(answer["accessKey"], "K"))
    assert len(set(texts)) == 1


async def test_no_notice_when_the_owner_files_it_or_to_their_own_address(gql, anon, rt, smtp_sink, make_account):
    owner = await make_account(login=unique("self."))
    session = await sign_in(gql, owner.email)
    signed = await submit(gql, form(accountIdentifier=owner.login, replyEmail=None), **bearer(session["accessToken"]))
    anonymous = await submit(anon, form(accountIdentifier=owner.email, replyEmail=owner.email))
    await deliver(rt)
    letters = await smtp_sink.wait_for(owner.email, count=2)
    await asyncio.sleep(0.2)
    letters = smtp_sink.to(owner.email)
    assert len(letters) == 2  # two confirmations, no notices
    assert all("/support/status" in letter.text for letter in letters)
    assert {signed["ticket"]["number"], anonymous["ticket"]["number"]} == {
        n for letter in letters for n in re.findall(r"\d{4}-\d{6,}", letter.subject)
    }


async def test_anonymous_submissions_are_throttled_per_address(anon, rt, clock):
    limit = ANONYMOUS_LIMIT.count
    kept = form(idempotencyKey=unique("kept-"))
    first = await submit(anon, kept)
    for _ in range(limit - 1):
        assert (await submit(anon, form()))["__typename"] == "SupportTicketSubmitted"
    refused = await submit(anon, form())
    assert refused["__typename"] == "TooManyAttempts" and refused["retryAfterSeconds"] > 0
    # a retry of a ticket already filed is still answered
    again = await submit(anon, kept)
    assert again["ticket"]["number"] == first["ticket"]["number"]
    clock.advance(ANONYMOUS_LIMIT.window + 1)
    assert (await submit(anon, form()))["__typename"] == "SupportTicketSubmitted"


async def test_status_changes_race_once_and_are_recorded(rt, anon, make_account):
    staff = await make_account(role=Role.STAFF)
    answer = await submit(anon, form())
    row = await Ticket.get(number=answer["ticket"]["number"])
    copies = [await Ticket.get(id=row.id) for _ in range(5)]
    results = await asyncio.gather(
        *(change_status(rt, c, TicketStatus.IN_PROGRESS, actor_id=staff.id) for c in copies)
    )
    assert sum(r is not None for r in results) == 1
    events = await TicketEvent.filter(ticket_id=row.id).order_by("id")
    assert [(e.from_status, e.to_status) for e in events] == [
        (None, TicketStatus.NEW),
        (TicketStatus.NEW, TicketStatus.IN_PROGRESS),
    ]
    assert events[1].actor_id == staff.id and events[1].occurred_at is not None
    assert await AuditEvent.filter(action="ticket.status_changed", ticket_number=row.number).count() == 1


async def test_owner_notices_are_capped_and_the_answer_stays_the_same(rt, app, smtp_sink, make_account):
    owner = await make_account(login=unique("popular."))
    answers = []
    for _ in range(OWNER_NOTICES_PER_ACCOUNT.count + 2):
        transport = httpx.ASGITransport(app=app, client=(random_address(), 40000))
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as c:
            answers.append(await submit(GQL(c), form(accountIdentifier=owner.login)))
    assert {a["__typename"] for a in answers} == {"SupportTicketSubmitted"}
    await deliver(rt)
    await smtp_sink.wait_for(owner.email, count=OWNER_NOTICES_PER_ACCOUNT.count)
    await asyncio.sleep(0.2)
    assert len(smtp_sink.to(owner.email)) == OWNER_NOTICES_PER_ACCOUNT.count


@pytest.mark.parametrize(
    ("typed", "reply"),
    [
        ("  Ivan.Petrov@Example.RU ", "Ivan.Petrov@Example.RU"),  # the same address: the reply's normalisation
        ("ivan@пример.рф", "ivan@пример.рф"),
        ("ivan@example.ru", "other@example.ru"),  # another address: parsed on its own
        ("ivan.petrov", "ivan.petrov@example.ru"),  # a login
        ("+7 912 000-00-01", None),
        ("не помню", "ivan@example.ru"),  # names no account
    ],
)
def test_the_named_account_is_read_as_sign_in_reads_it(rt, typed: str, reply: str | None) -> None:
    """Reusing the reply address's normalisation gives what parsing the identifier itself gives."""
    values = form()
    raw = TicketForm(
        full_name=values["fullName"], registration_address=values["registrationAddress"], phone=values["phone"],
        account_identifier=typed, description=values["description"], personal_data_consent=True, reply_email=reply,
    )
    clean = validate(raw, rt.settings.default_region)
    assert isinstance(clean, CleanForm)
    try:
        expected = parse_identifier(clean.account_identifier, rt.settings.default_region, "accountIdentifier")
    except FieldProblem:  # not an identifier: the statement that finds nobody
        expected = named_identifier(rt, "", None, None)
    assert named_identifier(rt, clean.account_identifier, reply, clean.reply_email) == expected
