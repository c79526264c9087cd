"""Proving that the person behind a ticket owns the account it names."""

from __future__ import annotations

from uuid import UUID

from tortoise.transactions import in_transaction

from portal.core.client import ClientInfo
from portal.core.errors import FieldCode, FieldProblem, Invalid, RefusalCode
from portal.core.runtime import Runtime
from portal.mail.outbox import enqueue
from portal.models.accounts import Account, AccountStatus
from portal.models.audit import record
from portal.models.desk import (
    Evidence,
    OwnershipVerification,
    VerificationOutcome,
)
from portal.models.support import Ticket
from portal.support.accounts import NotFound, Refused, find_account_ref
from portal.support.desk.common import DOCUMENTS_MAX, NOTE_MAX, load_ticket, optional_text


async def verify_ownership(
    rt: Runtime,
    number: str,
    account_ref: str,
    *,
    evidence: list[Evidence],
    outcome: VerificationOutcome,
    documents: str | None,
    comment: str | None,
    staff: Account,
    client: ClientInfo,
) -> OwnershipVerification | NotFound | Invalid:
    """Links the ticket to an account and records which evidence matched and the outcome.

    The account's current e-mail owner is told once per ticket that a recovery case was opened, so an
    owner who did not file it can object before anything changes.
    """
    problems = []
    try:
        docs = optional_text(documents, "documents", DOCUMENTS_MAX)
    except FieldProblem as problem:
        problems.append(problem)
        docs = None
    try:
        note = optional_text(comment, "comment", NOTE_MAX)
    except FieldProblem as problem:
        problems.append(problem)
        note = None
    if Evidence.DOCUMENTS_SEEN in evidence and not docs:
        problems.append(FieldProblem("documents", FieldCode.REQUIRED))
    if outcome == VerificationOutcome.VERIFIED and not evidence:
        problems.append(FieldProblem("evidence", FieldCode.REQUIRED))
    if problems:
        return Invalid(problems)
    ticket = await load_ticket(number)
    account = await find_account_ref(rt, account_ref[:300])
    if ticket is None or account is None or account.erased_at is not None:
        return NotFound()
    first_link = not await OwnershipVerification.filter(ticket_number=ticket.number, account_id=account.id).exists()
    async with in_transaction():
        check = await OwnershipVerification.create(
            ticket_number=ticket.number,
            account=account,
            staff=staff,
            evidence=sorted({e.value for e in evidence}),
            documents=docs,
            comment=note,
            outcome=outcome,
            created_at=rt.clock.now(),
        )
        if first_link and account.email:
            await enqueue(
                rt,
                template="recovery_case_opened",
                to=account.email,
                lang=account.preferred_language or "ru",
                context={"full_name": account.full_name, "number": ticket.number,
                         "support_url": f"{rt.settings.public_url}/support"},
                dedupe_key=f"recovery_case_opened:{ticket.number}:{account.id}",
            )
        await record(
            rt,
            "ticket.ownership_verified" if outcome == VerificationOutcome.VERIFIED else "ticket.ownership_rejected",
            actor_id=staff.id,
            subject_id=account.id,
            ticket_number=ticket.number,
            client=client,
            details={"evidence": check.evidence, "documents": bool(docs), "owner_notified": first_link
                     and bool(account.email)},
        )
    return check


async def refuse_step(
    rt: Runtime,
    code: RefusalCode,
    *,
    step: str,
    staff: Account,
    client: ClientInfo,
    ticket_number: str | None,
    subject_id: UUID | None,
    recovery_id: UUID | None = None,
) -> Refused:
    """A refused recovery step is a security event too: `recovery.refused`, with the rule and the step."""
    details = {"reason": code.value, "step": step}
    if recovery_id is not None:
        details["recovery_id"] = str(recovery_id)
    await record(rt, "recovery.refused", actor_id=staff.id, subject_id=subject_id, ticket_number=ticket_number,
                 client=client, details=details)
    return Refused(code)


async def verified_account(
    rt: Runtime, number: str, *, step: str, staff: Account, client: ClientInfo, recovery_id: UUID | None = None
) -> tuple[Ticket, Account] | NotFound | Refused:
    """The ticket and the account its latest ownership check verified; a refusal is audited."""
    ticket = await load_ticket(number)
    if ticket is None:
        return NotFound()
    latest = await OwnershipVerification.filter(ticket_number=ticket.number).order_by("-id").select_related(
        "account"
    ).first()
    account: Account | None = latest.account if latest is not None else None
    code: RefusalCode | None = None
    if latest is None or latest.outcome != VerificationOutcome.VERIFIED or account is None:
        code = RefusalCode.NOT_VERIFIED
    elif account.erased_at is not None:
        return NotFound()
    elif account.status != AccountStatus.ACTIVE:
        code = RefusalCode.ACCOUNT_DISABLED
    elif account.password_hash is None:
        code = RefusalCode.NO_PASSWORD  # a federated-only account recovers through its provider
    if code is not None or account is None:
        return await refuse_step(rt, code or RefusalCode.NOT_VERIFIED, step=step, staff=staff, client=client,
                             ticket_number=ticket.number, subject_id=account.id if account else None,
                             recovery_id=recovery_id)
    return ticket, account
