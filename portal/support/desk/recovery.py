"""Assisted recovery on a verified ticket: a reset link to the account's own address, or a move to a new
address approved by a second person (an ADMIN who did not propose it)."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from tortoise.transactions import in_transaction

from portal.core.client import ClientInfo
from portal.core.errors import FieldCode, FieldProblem, Invalid, RefusalCode
from portal.core.runtime import Runtime
from portal.identity import totp
from portal.identity.email_change import mask_email
from portal.identity.identifiers import normalize_email
from portal.identity.reset import issue_reset_link
from portal.mail.outbox import enqueue
from portal.models.accounts import Account, Role
from portal.models.audit import record
from portal.models.desk import (
    RecoveryKind,
    RecoveryRequest,
    RecoveryStatus,
)
from portal.support.accounts import NotFound, Refused
from portal.support.desk.ownership import refuse_step, verified_account


async def _supersede(account_id: UUID, now: Any) -> None:
    await RecoveryRequest.filter(
        account_id=account_id, status__in=[RecoveryStatus.AWAITING_APPROVAL, RecoveryStatus.SENT]
    ).update(status=RecoveryStatus.SUPERSEDED, decided_at=now)


async def send_reset_link(
    rt: Runtime, number: str, *, staff: Account, client: ClientInfo
) -> RecoveryRequest | NotFound | Refused:
    """Path (a): a reset link to the verified account's own e-mail address."""
    found = await verified_account(rt, number, step="reset_link", staff=staff, client=client)
    if not isinstance(found, tuple):
        return found
    ticket, account = found
    if not account.email:
        return await refuse_step(rt, RefusalCode.NO_EMAIL, step="reset_link", staff=staff, client=client,
                             ticket_number=ticket.number, subject_id=account.id)
    now = rt.clock.now()
    async with in_transaction():
        await _supersede(account.id, now)
        token_id = await issue_reset_link(rt, account, account.email, account.preferred_language or "ru")
        request = await RecoveryRequest.create(
            id=uuid.uuid4(), ticket_number=ticket.number, account=account, kind=RecoveryKind.RESET_LINK,
            status=RecoveryStatus.SENT, old_email=account.email, requested_by=staff, reset_token_ref=str(token_id),
            created_at=now, sent_at=now,
        )
        await record(rt, "recovery.reset_link_sent", actor_id=staff.id, subject_id=account.id,
                     ticket_number=ticket.number, client=client, details={"recovery_id": str(request.id)})
    return request


async def request_email_change(
    rt: Runtime, number: str, new_email: str | None, *, staff: Account, client: ClientInfo
) -> RecoveryRequest | NotFound | Refused | Invalid:
    """Path (b), step 1: propose moving the account to a new address (the ticket's reply address by default).
    Nothing is sent until an admin other than the requester approves."""
    found = await verified_account(rt, number, step="email_change_request", staff=staff, client=client)
    if not isinstance(found, tuple):
        return found
    ticket, account = found
    raw = new_email if new_email and new_email.strip() else ticket.reply_email
    if not raw:
        return Invalid.of(FieldProblem("newEmail", FieldCode.REQUIRED))
    try:
        address = normalize_email(raw, "newEmail")
    except FieldProblem as problem:
        return Invalid.of(problem)
    refusal = None
    if address == account.email:
        refusal = RefusalCode.SAME_EMAIL
    elif await Account.filter(email=address).exclude(id=account.id).exists():
        refusal = RefusalCode.EMAIL_TAKEN
    if refusal is not None:
        return await refuse_step(rt, refusal, step="email_change_request", staff=staff, client=client,
                             ticket_number=ticket.number, subject_id=account.id)
    now = rt.clock.now()
    async with in_transaction():
        await _supersede(account.id, now)
        request = await RecoveryRequest.create(
            id=uuid.uuid4(), ticket_number=ticket.number, account=account, kind=RecoveryKind.EMAIL_CHANGE,
            status=RecoveryStatus.AWAITING_APPROVAL, new_email=address, old_email=account.email,
            requested_by=staff, created_at=now,
        )
        await record(rt, "recovery.email_change_requested", actor_id=staff.id, subject_id=account.id,
                     ticket_number=ticket.number, client=client,
                     details={"recovery_id": str(request.id), "new_email": mask_email(address)})
    return request


async def propose_second_factor_removal(
    rt: Runtime, number: str, *, staff: Account, client: ClientInfo
) -> RecoveryRequest | NotFound | Refused:
    """Path (c), step 1: a resident lost the second factor and the recovery codes; staff propose removing them.
    Nothing changes until an admin other than the proposer approves; the account's address is told now."""
    found = await verified_account(rt, number, step="second_factor_request", staff=staff, client=client)
    if not isinstance(found, tuple):
        return found
    ticket, account = found
    if not await totp.is_enabled(account.id):
        return await refuse_step(rt, RefusalCode.NO_SECOND_FACTOR, step="second_factor_request", staff=staff,
                                 client=client, ticket_number=ticket.number, subject_id=account.id)
    now = rt.clock.now()
    async with in_transaction():
        await RecoveryRequest.filter(
            account_id=account.id, kind=RecoveryKind.SECOND_FACTOR, status=RecoveryStatus.AWAITING_APPROVAL
        ).update(status=RecoveryStatus.SUPERSEDED, decided_at=now)
        request = await RecoveryRequest.create(
            id=uuid.uuid4(), ticket_number=ticket.number, account=account, kind=RecoveryKind.SECOND_FACTOR,
            status=RecoveryStatus.AWAITING_APPROVAL, old_email=account.email, requested_by=staff, created_at=now,
        )
        if account.email:
            await enqueue(
                rt, template="second_factor_changed", to=account.email, lang=account.preferred_language or "ru",
                context={"full_name": account.full_name, "change": "removal_proposed", "number": ticket.number,
                         "changed_at": now, "client_address": None},
            )
        await record(rt, "recovery.second_factor_requested", actor_id=staff.id, subject_id=account.id,
                     ticket_number=ticket.number, client=client, details={"recovery_id": str(request.id)})
    return request


async def decide_email_change(
    rt: Runtime, request_id: UUID, approve: bool, *, admin: Account, client: ClientInfo,
    kind: RecoveryKind = RecoveryKind.EMAIL_CHANGE,
) -> RecoveryRequest | NotFound | Refused:
    """Path (b) or (c), step 2: a second person (an ADMIN, not the requester) approves or rejects.

    E-mail change: on approval the reset link goes to the new address and the old address is told; the
    account's e-mail changes only when that link is used (identity.email_change). Second factor: on approval
    TOTP and the recovery codes are removed at once and the account's address is told."""
    request = await RecoveryRequest.filter(id=request_id, kind=kind).select_related("account").first()
    if request is None or request.account is None:
        return NotFound()
    account: Account = request.account
    step = f"{kind.value}_{'approval' if approve else 'rejection'}"

    async def refuse(code: RefusalCode) -> Refused:
        return await refuse_step(rt, code, step=step, staff=admin, client=client, ticket_number=request.ticket_number,
                             subject_id=account.id, recovery_id=request.id)

    if admin.role != Role.ADMIN:
        return await refuse(RefusalCode.ADMIN_ONLY)
    if request.requested_by_id == admin.id:  # type: ignore[attr-defined]
        return await refuse(RefusalCode.SAME_APPROVER)
    if request.status != RecoveryStatus.AWAITING_APPROVAL:
        return await refuse(RefusalCode.ALREADY_DECIDED)
    if approve:
        # The ticket must still be verified for this account at the moment of approval.
        found = await verified_account(rt, request.ticket_number, step=step, staff=admin, client=client,
                                        recovery_id=request.id)
        if not isinstance(found, tuple):
            return found
        if found[1].id != account.id:
            return await refuse(RefusalCode.NOT_VERIFIED)
        if kind == RecoveryKind.EMAIL_CHANGE and await Account.filter(
            email=request.new_email
        ).exclude(id=account.id).exists():
            return await refuse(RefusalCode.EMAIL_TAKEN)
    done = RecoveryStatus.COMPLETED if kind == RecoveryKind.SECOND_FACTOR else RecoveryStatus.SENT
    now = rt.clock.now()
    async with in_transaction():
        claimed = await RecoveryRequest.filter(id=request.id, status=RecoveryStatus.AWAITING_APPROVAL).update(
            status=done if approve else RecoveryStatus.REJECTED,
            decided_by_id=admin.id, decided_at=now, sent_at=now if approve else None,
        )
        if not claimed:
            return await refuse(RefusalCode.ALREADY_DECIDED)
        if approve and kind == RecoveryKind.SECOND_FACTOR:
            await totp.remove_on_staff_decision(rt, account, request.ticket_number)
        elif approve:
            assert request.new_email is not None
            token_id = await issue_reset_link(rt, account, request.new_email, account.preferred_language or "ru")
            await RecoveryRequest.filter(id=request.id).update(reset_token_ref=str(token_id))
            request.reset_token_ref = str(token_id)
            if account.email:
                await enqueue(
                    rt,
                    template="email_change_pending",
                    to=account.email,
                    lang=account.preferred_language or "ru",
                    context={"full_name": account.full_name, "number": request.ticket_number,
                             "new_email_masked": mask_email(request.new_email),
                             "support_url": f"{rt.settings.public_url}/support"},
                )
        await record(
            rt,
            f"recovery.{kind.value}_{'approved' if approve else 'rejected'}",
            actor_id=admin.id, subject_id=account.id, ticket_number=request.ticket_number, client=client,
            details={"recovery_id": str(request.id), "requested_by": str(request.requested_by_id)},  # type: ignore[attr-defined]
        )
    request.status = done if approve else RecoveryStatus.REJECTED
    request.decided_by = admin
    request.decided_at = now
    return request


async def refuse_decision_by_role(
    rt: Runtime, request_id: UUID | None, approve: bool, *, staff: Account, client: ClientInfo
) -> Refused:
    """A caller without the ADMIN role tried to approve or reject (refused before the desk by the role guard):
    audited as `recovery.refused` with reason ADMIN_ONLY, like any other refused recovery step."""
    request = await RecoveryRequest.filter(id=request_id).first() if request_id is not None else None
    step = "email_change_approval" if approve else "email_change_rejection"
    return await refuse_step(
        rt, RefusalCode.ADMIN_ONLY, step=step, staff=staff, client=client,
        ticket_number=request.ticket_number if request else None,
        subject_id=request.account_id if request else None,  # type: ignore[attr-defined]
        recovery_id=request.id if request else None,
    )
