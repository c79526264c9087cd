"""The audit log (ADMIN query, retention, prune), operator account tools, and 152-FZ export and erasure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from portal.models.accounts import Account, AccountStatus, Role, Session
from portal.models.audit import AuditEvent, record
from portal.models.residents import PersonalAccount
from portal.support import audit
from tests.helpers import PASSWORD, ROOT, holding, settings_env, sign_in

AUDIT = """
query($a: ID, $first: Int, $after: String) { auditEvents(accountId: $a, first: $first, after: $after) {
  __typename
  ... on AuditEventConnection { totalCount pageInfo { hasNextPage endCursor }
        nodes { id action actorId subjectId occurredAt details ticketNumber } }
  ... on ValidationError { fields { field code } }
  ... on Error { message } } }
"""
SET_ROLE = """
mutation($a: ID!, $r: AccountRole!) { setAccountRole(accountId: $a, role: $r) {
  __typename ... on AccountUpdated { account { id role status } }
  ... on ActionRefused { code } ... on Error { message } } }
"""
DISABLE = """
mutation($a: ID!) { disableAccount(accountId: $a, reason: "stolen phone") {
  __typename ... on AccountUpdated { account { status } } ... on ActionRefused { code } } }
"""
ENABLE = """mutation($a: ID!) { enableAccount(accountId: $a) {
  __typename ... on AccountUpdated { account { status } } } }"""
EXPORT = "mutation($a: ID!) { exportAccountData(accountId: $a) { __typename ... on AccountDataExported { data } } }"
ERASE = """mutation($a: ID!) { eraseAccount(accountId: $a) { __typename
  ... on AccountErased { message summary } ... on ActionRefused { code } ... on Error { message } } }"""
ME = "{ me { id } }"


def auth(session: dict[str, Any]) -> dict[str, Any]:
    return {"headers": {"Authorization": f"Bearer {session['accessToken']}"}}


async def staff_session(gql, make_account, role: Role = Role.ADMIN) -> tuple[Account, dict[str, Any]]:
    account = await make_account(role=role)
    return account, await sign_in(gql, account.email)


def portal(settings, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [str(Path(sys.executable).parent / "portal"), *args],
        env={**settings_env(settings), "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_audit_events_paginate_by_cursor_for_admins(gql, make_account, rt):
    admin, session = await staff_session(gql, make_account)
    resident = await make_account()
    for i in range(7):
        await record(rt, "test.event", subject_id=resident.id, details={"i": i})

    seen: list[int] = []
    after = None
    while True:
        page = (await gql(AUDIT, {"a": str(resident.id), "first": 3, "after": after}, **auth(session)))["auditEvents"]
        assert page["__typename"] == "AuditEventConnection"
        assert page["totalCount"] == 7
        seen += [json.loads(n["details"])["i"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [6, 5, 4, 3, 2, 1, 0]

    bad = (await gql(AUDIT, {"a": str(resident.id), "after": "not-a-cursor"}, **auth(session)))["auditEvents"]
    assert bad == {"__typename": "ValidationError", "fields": [{"field": "after", "code": "INVALID_CURSOR"}],
                   "message": "Проверьте введённые данные."}
    too_big = (await gql(AUDIT, {"first": 1000}, **auth(session)))["auditEvents"]
    assert too_big["fields"] == [{"field": "first", "code": "OUT_OF_RANGE"}]

    everything = (await gql(AUDIT, {"first": 1}, **auth(session)))["auditEvents"]
    assert everything["totalCount"] >= 8  # the admin's own sign-in is there too


async def test_prune_keeps_the_retention_period(rt, clock, settings):
    await record(rt, "test.old")
    old = await AuditEvent.filter(action="test.old").order_by("-id").first()
    clock.advance(400 * 86400)
    await record(rt, "test.fresh")
    fresh = await AuditEvent.filter(action="test.fresh").order_by("-id").first()
    assert await audit.prune(rt) >= 1  # default retention: 365 days
    assert not await AuditEvent.filter(id=old.id).exists()
    assert await AuditEvent.filter(id=fresh.id).exists()

    clock.offset = type(clock.offset)(0)
    result = portal(settings, "audit", "prune", "--older-than-days", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("deleted ")
    assert await AuditEvent.filter(id=fresh.id).exists()  # dated 400 days ahead: nothing to prune
    bad = portal(settings, "audit", "prune", "--older-than-days", "0")
    assert bad.returncode == 2 and "at least 1" in bad.stderr


async def test_set_role_from_the_command_line_and_by_an_admin(gql, make_account, settings):
    resident = await make_account()
    result = portal(settings, "accounts", "set-role", resident.email.upper(), "--role", "staff")
    assert result.returncode == 0, result.stderr
    assert (await Account.get(id=resident.id)).role == Role.STAFF
    event = await AuditEvent.filter(subject_id=resident.id, action="account.role_changed").first()
    assert event is not None and event.actor_id is None
    assert event.details == {"from": "resident", "to": "staff", "via": "cli"}
    missing = portal(settings, "accounts", "set-role", "nobody-at-all@example.ru", "--role", "admin")
    assert missing.returncode == 2 and "no account" in missing.stderr

    admin, session = await staff_session(gql, make_account)
    target_session = await sign_in(gql, resident.email)
    data = await gql(SET_ROLE, {"a": str(resident.id), "r": "ADMIN"}, **auth(session))
    assert data["setAccountRole"]["account"]["role"] == "ADMIN"
    assert (await gql(ME, **auth(target_session)))["me"] is None  # privileges changed: sign in again
    own = await gql(SET_ROLE, {"a": str(admin.id), "r": "RESIDENT"}, **auth(session))
    assert own["setAccountRole"]["__typename"] == "ActionRefused" and own["setAccountRole"]["code"] == "SELF"
    event = await AuditEvent.filter(subject_id=resident.id, actor_id=admin.id, action="account.role_changed").first()
    assert event is not None and event.details["to"] == "admin" and event.client_address == "127.0.0.1"


async def test_disable_revokes_sessions_and_reset_links_and_enable_restores_sign_in(gql, make_account, rt):
    from portal.core.tokens import new_token
    from portal.models.reset import PasswordResetToken

    staff, session = await staff_session(gql, make_account, Role.STAFF)
    resident = await make_account()
    resident_session = await sign_in(gql, resident.email)
    now = rt.clock.now()
    token = await PasswordResetToken.create(
        account=resident, token_hash=rt.tokens.digest("reset-test", new_token()), created_at=now,
        expires_at=now.replace(year=now.year + 1),
    )

    data = await gql(DISABLE, {"a": str(resident.id)}, **auth(session))
    assert data["disableAccount"] == {"__typename": "AccountUpdated", "account": {"status": "DISABLED"}}
    assert (await gql(ME, **auth(resident_session)))["me"] is None
    assert (await PasswordResetToken.get(id=token.id)).voided_at is not None
    login = await gql.raw(
        "mutation($i: String!, $p: String!) { login(identifier: $i, password: $p) { __typename } }",
        {"i": resident.email, "p": PASSWORD},
    )
    assert login.json()["data"]["login"]["__typename"] == "InvalidCredentials"

    data = await gql(ENABLE, {"a": str(resident.id)}, **auth(session))
    assert data["enableAccount"]["account"]["status"] == "ACTIVE"
    await sign_in(gql, resident.email)
    actions = await AuditEvent.filter(subject_id=resident.id, actor_id=staff.id).values_list("action", flat=True)
    assert set(actions) == {"account.disabled", "account.enabled"}
    disabled = await AuditEvent.get(subject_id=resident.id, action="account.disabled")
    assert disabled.details["reason"] == "stolen phone" and disabled.details["sessions_revoked"] == 1

    admin = await make_account(role=Role.ADMIN)
    refused = await gql(DISABLE, {"a": str(admin.id)}, **auth(session))
    assert refused["disableAccount"] == {"__typename": "ActionRefused", "code": "ADMIN_ONLY"}
    assert (await Account.get(id=admin.id)).status == AccountStatus.ACTIVE


async def test_export_and_erase_a_resident(gql, make_account, rt, settings):
    admin, session = await staff_session(gql, make_account)
    from portal.models.federation import FederatedIdentity

    resident = await make_account()
    flat = await holding(resident)
    await sign_in(gql, resident.email)
    await FederatedIdentity.create(account=resident, provider="esia", issuer="https://idp.example",
                                   subject=str(resident.id), email="x@idp.example", linked_at=rt.clock.now())

    exported = await gql(EXPORT, {"a": str(resident.id)}, **auth(session))
    data = json.loads(exported["exportAccountData"]["data"])
    assert data["account"]["email"] == resident.email
    assert data["related"]["federated_identities.account_id"][0]["subject"] == str(resident.id)
    assert "password_hash" not in data["account"] and data["account"]["has_password"] is True
    sessions = data["related"]["sessions.account_id"]
    assert sessions and all("access_hash" not in s for s in sessions)
    assert any(e["action"] == "signin.success" for e in data["audit_events"])
    cli = portal(settings, "accounts", "export", str(resident.id))
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["account"]["id"] == str(resident.id)
    assert await AuditEvent.filter(subject_id=resident.id, action="account.exported").count() == 2

    erased = await gql(ERASE, {"a": str(resident.id)}, **auth(session))
    assert erased["eraseAccount"]["__typename"] == "AccountErased"
    tombstone = await Account.get(id=resident.id)
    assert (tombstone.email, tombstone.phone, tombstone.login) == (None,) * 3
    # The flat is let go: nobody holds it, so it is unclaimed again (the next export gives it a code).
    assert await PersonalAccount.filter(number=flat, holders__id=resident.id).count() == 0
    assert (await PersonalAccount.get(number=flat)).claimed_at is None
    assert tombstone.password_hash is None and tombstone.status == AccountStatus.DISABLED
    assert tombstone.erased_at is not None
    assert not await Session.filter(account_id=resident.id).exists()
    assert not await FederatedIdentity.filter(account_id=resident.id).exists()
    assert not await AuditEvent.filter(subject_id=resident.id).exists()
    alias = audit.pseudonym(rt, resident.id)
    actions = set(await AuditEvent.filter(subject_id=alias).values_list("action", flat=True))
    assert {"signin.success", "account.exported", "account.erased"} <= actions
    assert not await AuditEvent.filter(subject_id=alias, client_address__isnull=False).exclude(
        action="account.erased"
    ).exists()
    again = await gql(ERASE, {"a": str(resident.id)}, **auth(session))
    assert again["eraseAccount"]["__typename"] == "NotFound"
    assert (await gql(ERASE, {"a": str(admin.id)}, **auth(session)))["eraseAccount"]["code"] == "SELF"

    other = await make_account()
    no = portal(settings, "accounts", "erase", other.email)
    assert no.returncode == 2 and "--yes" in no.stderr
    yes = portal(settings, "accounts", "erase", other.email, "--yes")
    assert yes.returncode == 0, yes.stderr
    assert (await Account.get(id=other.id)).erased_at is not None
