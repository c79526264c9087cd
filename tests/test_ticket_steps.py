"""A ticket's transaction in two trips (`models.batch.in_steps`): the number, its rollback and the steps
themselves, on the real database (SQLite here, PostgreSQL with PORTAL_TEST_DATABASE_URL)."""

from __future__ import annotations

from typing import Any

import aiosqlite
import pytest
from tortoise import connections
from tortoise.exceptions import IntegrityError

from portal.core.client import ClientInfo
from portal.core.errors import TooMany
from portal.models import batch
from portal.models.audit import AuditEvent, record_statement
from portal.models.mail import OutboxMessage
from portal.models.support import Ticket, TicketCounter, TicketEvent
from portal.support.tickets.submission import ANONYMOUS_LIMIT, Submitted, submit_ticket
from portal.support.tickets.validation import TicketForm
from tests.helpers import unique


def ticket_form(description: str) -> TicketForm:
    return TicketForm(
        full_name="Пётр Сергеевич Орлов",
        registration_address="ул. Мира, д. 1",
        phone="+7 912 345-67-89",
        account_identifier=unique("acc"),
        reply_email=unique("steps") + "@example.ru",
        description=description,
        personal_data_consent=True,
    )


def client() -> ClientInfo:
    return ClientInfo(address=f"203.0.113.{int(unique('')[-4:], 16) % 250 + 1}")


async def filed(rt: Any, description: str) -> Submitted:
    outcome = await submit_ticket(rt, ticket_form(description), account=None, client=client())
    assert isinstance(outcome, Submitted), outcome
    return outcome


def sequence_of(outcome: Submitted) -> int:
    return int(outcome.view.ticket.number.split("-")[1])


async def test_the_answers_ticket_is_the_stored_row(rt):
    outcome = await filed(rt, unique("as stored "))
    answered, stored = outcome.view.ticket, await Ticket.get(number=outcome.view.ticket.number)
    assert not answered._partial and answered._saved_in_db
    for name in Ticket._meta.fields_map:
        if name in Ticket._meta.fetch_fields:  # relations: compared by their id columns
            continue
        assert getattr(answered, name) == getattr(stored, name), name


async def test_a_submission_throttled_after_its_insert_leaves_nothing_and_no_gap(rt, monkeypatch):
    first = await filed(rt, unique("before "))
    real_hit = rt.throttle.hit

    async def hit(limit: Any, key: str | None) -> TooMany | None:
        if limit is ANONYMOUS_LIMIT:  # the count after the insert says no: the whole unit rolls back
            return TooMany(retry_after_seconds=60)
        return await real_hit(limit, key)

    monkeypatch.setattr(rt.throttle, "hit", hit)
    description = unique("throttled ")
    refused = await submit_ticket(rt, ticket_form(description), account=None, client=client())
    assert isinstance(refused, TooMany)
    monkeypatch.undo()
    assert not await Ticket.filter(description=description).exists()
    after = await filed(rt, unique("after "))
    assert sequence_of(after) == sequence_of(first) + 1  # the refused one gave its number back
    ticket = await Ticket.get(number=after.view.ticket.number)
    assert await TicketEvent.filter(ticket_id=ticket.id).count() == 1
    assert await AuditEvent.filter(action="ticket.submitted", ticket_number=ticket.number).count() == 1
    assert await OutboxMessage.filter(dedupe_key=f"ticket_submitted:{ticket.number}").count() == 1
    # the refused ticket's number went to the next one: its letters and records are that one's alone
    assert await OutboxMessage.filter(dedupe_key=f"ticket_owner_notice:{ticket.number}").count() == 1


async def test_numbers_past_six_digits_keep_every_digit(rt):
    year = rt.clock.now().year
    first = await filed(rt, unique("six digits "))
    # jump the counter (numbers stay unique: every later one is larger than any before)
    await TicketCounter.filter(year=year).update(value=max(999_999, sequence_of(first)))
    after = await filed(rt, unique("seven digits "))
    assert after.view.ticket.number == f"{year:04d}-{max(999_999, sequence_of(first)) + 1:06d}"
    assert await Ticket.filter(number=after.view.ticket.number).exists()


async def test_the_answer_is_the_row_written(rt):
    outcome = await filed(rt, unique("answer "))
    row = await Ticket.get(number=outcome.view.ticket.number)
    answered = outcome.view.ticket
    assert row.id == answered.id
    for name in ("status", "category", "full_name", "phone", "reply_email", "description", "content_hash"):
        assert getattr(row, name) == getattr(answered, name), name
    assert row.created_at == answered.created_at


async def test_a_step_that_fails_rolls_the_unit_back_and_frees_the_connection(rt):
    action = unique("steps.fail.")
    with pytest.raises(IntegrityError):
        async with batch.in_steps() as steps:
            await steps.write([record_statement(rt, action)])
            # a ticket event for a ticket that does not exist: the foreign key refuses it
            event = batch.InsertRow(TicketEvent, ("ticket_id", "to_status", "occurred_at")).row(
                ticket_id=-1, to_status="new", occurred_at=rt.clock.now()
            )
            await steps.finish([event])
    assert not await AuditEvent.filter(action=action).exists()
    await batch.write_atomically([record_statement(rt, action)])  # nothing was left open or locked
    assert await AuditEvent.filter(action=action).count() == 1


async def test_raising_between_steps_rolls_back(rt):
    action = unique("steps.raise.")
    with pytest.raises(LookupError):
        async with batch.in_steps() as steps:
            await steps.write([record_statement(rt, action)])
            raise LookupError("changed my mind")
    assert not await AuditEvent.filter(action=action).exists()
    async with batch.in_steps() as steps:  # and a unit without `finish` commits when its block ends
        await steps.write([record_statement(rt, action)])
    assert await AuditEvent.filter(action=action).count() == 1


async def test_on_sqlite_a_ticket_is_two_handoffs_to_the_driver_thread(rt, on_postgres, monkeypatch):
    """Fails when aiosqlite or Tortoise change the private parts `in_steps` relies on (`_execute`, `_conn`,
    the client's `_connection` and lock), rather than the fast path quietly becoming the slow one."""
    if on_postgres:
        pytest.skip("SQLite's path")
    assert callable(getattr(aiosqlite.Connection, "_execute", None))
    assert hasattr(connections.get("default"), "_connection")
    calls: list[bool] = []
    real = batch._sqlite_step

    def counted(conn: Any, statements: Any, begin: bool, commit: bool) -> Any:
        calls.append(begin)
        return real(conn, statements, begin, commit)

    monkeypatch.setattr(batch, "_sqlite_step", counted)
    await filed(rt, unique("hand-offs "))
    assert calls == [True, False]  # BEGIN with the number and the ticket; the rest with COMMIT
