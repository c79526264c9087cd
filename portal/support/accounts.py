"""Operators' and staff's account tools: roles, disabling, re-enabling, unlocking; every change audited.

`actor` is the staff account acting through GraphQL, or None for an operator at the `portal` command line.
Staff may manage residents' accounts; only an admin may touch a staff or admin account or change a role.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from uuid import UUID

from tortoise.transactions import in_transaction

from portal.core.client import ClientInfo
from portal.core.errors import FieldProblem, RefusalCode
from portal.core.runtime import Runtime
from portal.identity.identifiers import parse_identifier
from portal.identity.provider import revoke_partner_tokens
from portal.identity.reset import void_reset_tokens
from portal.identity.sessions import revoke_sessions
from portal.models.accounts import Account, AccountStatus, Role
from portal.models.audit import record


@dataclass(frozen=True)
class NotFound:
    """No such account (or ticket)."""


@dataclass(frozen=True)
class Refused:
    """The rules do not allow this; `code` says which rule."""

    code: RefusalCode


async def find_account_ref(rt: Runtime, ref: str) -> Account | None:
    """An account by id, or by what a resident would type (e-mail, phone, login)."""
    ref = ref.strip()
    try:
        return await Account.filter(id=uuid.UUID(ref)).first()
    except ValueError:
        pass
    try:
        identifier = parse_identifier(ref, rt.settings.default_region)
    except FieldProblem:
        return None
    return await Account.filter(**{identifier.kind: identifier.value}).first()


def may_manage(actor: Account | None, target: Account) -> bool:
    """Operators (None) and admins manage anyone; staff manage residents only."""
    return actor is None or actor.role == Role.ADMIN or (actor.role == Role.STAFF and target.role == Role.RESIDENT)


def _via(actor: Account | None) -> dict[str, str]:
    return {"via": "graphql" if actor else "cli"}


async def set_role(
    rt: Runtime, account_id: UUID, role: Role, *, actor: Account | None = None, client: ClientInfo | None = None
) -> Account | NotFound | Refused:
    account = await Account.filter(id=account_id, erased_at__isnull=True).first()
    if account is None:
        return NotFound()
    if actor is not None and actor.role != Role.ADMIN:
        return Refused(RefusalCode.ADMIN_ONLY)
    if actor is not None and actor.id == account.id:
        return Refused(RefusalCode.SELF)  # an admin cannot demote themselves and leave nobody to undo it
    previous = Role(account.role)
    async with in_transaction():
        await Account.filter(id=account.id).update(role=role)
        if previous != role:
            # Privileges changed: the account signs in again with its new role.
            await revoke_sessions(rt, account_id=account.id)
        await record(
            rt,
            "account.role_changed",
            actor_id=actor.id if actor else None,
            subject_id=account.id,
            client=client,
            details={"from": previous.value, "to": role.value, **_via(actor)},
        )
    account.role = role
    return account


async def set_disabled(
    rt: Runtime,
    account_id: UUID,
    disabled: bool,
    *,
    actor: Account | None = None,
    client: ClientInfo | None = None,
    reason: str | None = None,
) -> Account | NotFound | Refused:
    """Disabling ends every session and partner token family and voids every reset link; re-enabling restores
    sign-in only (partners must sign the resident in again)."""
    account = await Account.filter(id=account_id, erased_at__isnull=True).first()
    if account is None:
        return NotFound()
    if not may_manage(actor, account):
        return Refused(RefusalCode.ADMIN_ONLY)
    if actor is not None and actor.id == account.id:
        return Refused(RefusalCode.SELF)
    status = AccountStatus.DISABLED if disabled else AccountStatus.ACTIVE
    async with in_transaction():
        await Account.filter(id=account.id).update(status=status)
        details: dict[str, object] = {**_via(actor)}
        if reason:
            details["reason"] = reason[:500]
        if disabled:
            details["sessions_revoked"] = await revoke_sessions(rt, account_id=account.id)
            details["reset_tokens_voided"] = await void_reset_tokens(rt, account.id)
            # Partners' token families end too (with back-channel logout where a partner registered one).
            details["partner_grants_revoked"] = await revoke_partner_tokens(rt, account.id)
        await record(
            rt,
            "account.disabled" if disabled else "account.enabled",
            actor_id=actor.id if actor else None,
            subject_id=account.id,
            client=client,
            details=details,
        )
    account.status = status
    return account


async def unlock(
    rt: Runtime, account_id: UUID, *, actor: Account | None = None, client: ClientInfo | None = None
) -> Account | NotFound | Refused:
    """Lifts the sign-in lock that repeated wrong passwords put on the account."""
    from portal.identity.signin import clear_signin_lock

    account = await Account.filter(id=account_id, erased_at__isnull=True).first()
    if account is None:
        return NotFound()
    if not may_manage(actor, account):
        return Refused(RefusalCode.ADMIN_ONLY)
    await clear_signin_lock(rt, account.id)
    await record(
        rt, "account.unlocked", actor_id=actor.id if actor else None, subject_id=account.id, client=client,
        details=_via(actor),
    )
    return account
