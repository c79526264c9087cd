"""The hot paths' one-row reads (models/reads.py): on a SQLite file, outside a transaction, on the event loop's
thread through a connection of its own; always seeing every commit made before the read began."""

from __future__ import annotations

import sqlite3

import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from portal.core.client import ClientInfo
from portal.core.runtime import Runtime
from portal.identity.accounts import find_account
from portal.identity.identifiers import Identifier
from portal.identity.sessions import authenticate, issue_session
from portal.models import reads
from portal.models.accounts import Account, AccountStatus, Session
from tests.helpers import unique


async def test_a_read_sees_every_commit_made_before_it_on_either_database(rt: Runtime, make_account):
    account = await make_account()
    issued = await issue_session(rt, account, ClientInfo("127.0.0.1", None))
    first = await authenticate(rt, issued.access_token)
    first.account.full_name = "changed in one request, never saved"  # the next request must not see it
    again = await authenticate(rt, issued.access_token)
    assert again is not first and again.account.full_name == account.full_name
    for _ in range(10):  # committed through the ORM's connection, read at once through the hot path's
        name = f"Пётр Иванов {unique('n')}"
        await Account.filter(id=account.id).update(full_name=name)
        assert (await authenticate(rt, issued.access_token)).account.full_name == name
        assert (await find_account(Identifier("email", account.email))).full_name == name
    await Session.filter(id=issued.session.id).update(revoked_at=rt.clock.now())
    assert await authenticate(rt, issued.access_token) is None  # revoked: refused by the very next read


async def test_on_a_sqlite_file_the_read_stays_on_this_thread_and_never_holds_a_snapshot(
    rt: Runtime, make_account, on_postgres: bool
):
    if on_postgres:
        pytest.skip("PostgreSQL reads go through the connection pool as always")
    account = await make_account()
    await find_account(Identifier("email", account.email))
    client = connections.get("default")
    reader = reads._readers[client]  # the read went through this thread's own connection
    assert len(reader) == 1
    connection = next(iter(reader.values()))
    assert not connection.in_transaction  # the statement ran to its end: no read snapshot is kept open
    with pytest.raises(sqlite3.OperationalError):  # and it can never write
        connection.execute("DELETE FROM accounts")


async def test_inside_a_transaction_a_read_sees_the_transactions_own_writes(rt: Runtime, make_account):
    account = await make_account()
    name = f"Анна Смирнова {unique('n')}"
    async with in_transaction():
        await Account.filter(id=account.id).update(full_name=name)
        assert (await find_account(Identifier("email", account.email))).full_name == name
        await Account.filter(id=account.id).update(status=AccountStatus.DISABLED)
        found = await find_account(Identifier("email", account.email))
        assert found.status == AccountStatus.DISABLED
        await Account.filter(id=account.id).update(status=AccountStatus.ACTIVE)
