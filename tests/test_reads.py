"""The hot paths' one-row reads (models/reads.py): on a SQLite file, outside a transaction, on the event loop's
thread through a connection of its own; always seeing every commit made before the read began. A session row
read again only after a commit to the file (identity/sessions.py), and a session revoked through one
`portal serve` refused by another on its very next request."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
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
from tests.helpers import LOGIN, PASSWORD, settings_env, start_live_server, stop_live_server, unique


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


async def test_a_new_sessions_instance_is_its_stored_row_with_the_account_loaded(rt: Runtime, make_account):
    account = await make_account()
    session = (await issue_session(rt, account, ClientInfo("127.0.0.1", "Браузер"))).session
    stored = await Session.get(id=session.id)
    assert not session._partial and session._saved_in_db and session.account is account
    for name in Session._meta.fields_map:
        if name not in Session._meta.fetch_fields:  # relations: compared by their id columns
            assert getattr(session, name) == getattr(stored, name), name
    session.last_used_at = rt.clock.now()
    await session.save(update_fields=["last_used_at"])  # an update of the row, not a second insert
    assert await Session.filter(account_id=account.id).count() == 1


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


# Another process committing to the file, as an operator's `sqlite3` shell would.
REVOKE_SCRIPT = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
connection.execute("UPDATE sessions SET revoked_at = ? WHERE id = ?", (sys.argv[3], sys.argv[2]))
"""


async def test_on_a_sqlite_file_a_session_row_is_read_again_only_after_a_commit_by_anyone(
    rt: Runtime, make_account, on_postgres: bool
):
    if on_postgres:
        pytest.skip("SQLite's data version; PostgreSQL's session cache is tests/test_session_cache.py's")
    account = await make_account()
    issued = await issue_session(rt, account, ClientInfo("127.0.0.1", None))
    assert await authenticate(rt, issued.access_token) is not None
    client = connections.get("default")
    reader = next(iter(reads._readers[client].values()))
    statements: list[str] = []
    reader.set_trace_callback(statements.append)
    try:
        served = []
        for _ in range(3):  # (another test process's server could commit meanwhile: one quiet read is enough)
            statements.clear()
            assert (await authenticate(rt, issued.access_token)).account.full_name == account.full_name
            served.append(statements == ["PRAGMA data_version"])
        assert any(served), statements  # nothing committed since the last read: the row stands as read, unread

        revoked_at = datetime.now(UTC).isoformat()
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-c", REVOKE_SCRIPT, str(Path(client.filename).resolve()), str(issued.session.id),
             revoked_at],
            capture_output=True, text=True, check=False,
        )
        assert done.returncode == 0, done.stderr
        statements.clear()
        assert await authenticate(rt, issued.access_token) is None  # the very next read: revoked
        assert any(s.startswith("SELECT") for s in statements)

        # PORTAL_SESSION_CACHE=false: every request reads its row.
        off = Runtime(rt.settings.model_copy(update={"session_cache": False}), rt.clock)
        again = await issue_session(off, account, ClientInfo("127.0.0.1", None))
        for _ in range(3):
            statements.clear()
            assert await authenticate(off, again.access_token) is not None
            assert any(s.startswith("SELECT") for s in statements), statements
    finally:
        reader.set_trace_callback(None)


ME = "{ me { id } }"
LOGOUT = "mutation { logout { __typename } }"


async def test_a_session_revoked_through_one_server_is_refused_by_another_at_once(
    settings, database, make_account, tmp_path
):
    """Two `portal serve` processes on the suite's database (a SQLite file, or PostgreSQL): each serves the
    session without reading it again, and neither serves it once the other has signed it out."""
    account = await make_account()
    env = settings_env(settings) | {"PORTAL_DELIVER_MAIL_IN_PROCESS": "false"}
    servers = [start_live_server(env, tmp_path), start_live_server(env, tmp_path)]
    try:
        first, second = (httpx.Client(base_url=s.url, timeout=20) for s in servers)
        with first, second:
            body = {"query": LOGIN, "variables": {"identifier": account.email, "password": PASSWORD}}
            token = first.post("/graphql", json=body).json()["data"]["login"]["session"]["accessToken"]
            auth = {"Authorization": f"Bearer {token}"}
            for replica in (first, second, first, second):  # each second read: served from what was read
                assert replica.post("/graphql", json={"query": ME}, headers=auth).json()["data"]["me"] is not None
            assert first.post("/graphql", json={"query": LOGOUT}, headers=auth).json()["data"]["logout"] == {
                "__typename": "LoggedOut"
            }
            assert second.post("/graphql", json={"query": ME}, headers=auth).json()["data"]["me"] is None
    finally:
        for server in servers:
            stop_live_server(server)
