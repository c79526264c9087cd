"""E-mail changes that wait for the new address to prove itself by spending a reset link.

Staff's assisted recovery (support.desk) binds a pending change to one reset token; the password-reset
service calls `apply_pending_email_change` inside the transaction that spends a token, so the address
changes exactly when, and only if, its owner used the link. The old address is told.
"""

from __future__ import annotations

from portal.core.runtime import Runtime
from portal.mail.outbox import enqueue
from portal.models.accounts import Account
from portal.models.audit import record
from portal.models.desk import RecoveryKind, RecoveryRequest, RecoveryStatus


def mask_email(address: str) -> str:
    """`iv***@example.ru`: enough for the owner to recognise, too little to harvest."""
    local, _, domain = address.partition("@")
    return f"{local[:2]}***@{domain}"


async def apply_pending_email_change(rt: Runtime, token_id: int, account: Account) -> str | None:
    """Applies the change bound to a just-spent reset token; returns the new address, or None when there is none.

    Call inside the transaction that spent the token (the change then commits or rolls back with it).
    """
    now = rt.clock.now()
    request = await RecoveryRequest.filter(
        reset_token_ref=str(token_id), kind=RecoveryKind.EMAIL_CHANGE, status=RecoveryStatus.SENT,
        account_id=account.id,
    ).first()
    if request is None or not request.new_email:
        return None
    taken = await Account.filter(email=request.new_email).exclude(id=account.id).exists()
    if taken:  # someone registered the address meanwhile: the password still changes, the address does not
        await RecoveryRequest.filter(id=request.id).update(status=RecoveryStatus.SUPERSEDED, completed_at=now)
        return None
    old = account.email
    await Account.filter(id=account.id).update(email=request.new_email, email_verified=True)
    await RecoveryRequest.filter(id=request.id).update(status=RecoveryStatus.COMPLETED, completed_at=now)
    if old:
        await enqueue(
            rt,
            template="email_changed",
            to=old,
            lang=account.preferred_language or "ru",
            context={
                "full_name": account.full_name,
                "number": request.ticket_number,
                "new_email_masked": mask_email(request.new_email),
                "changed_at": now,
                "support_url": f"{rt.settings.public_url}/support",
            },
        )
    await record(
        rt,
        "recovery.email_changed",
        actor_id=account.id,
        subject_id=account.id,
        ticket_number=request.ticket_number,
        details={"recovery_id": str(request.id), "old_email": mask_email(old) if old else None,
                 "new_email": mask_email(request.new_email)},
    )
    account.email = request.new_email
    account.email_verified = True
    return request.new_email
