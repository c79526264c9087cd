"""Personal data under 152-FZ: export everything held about a resident, or erase it.

Export walks every table with a foreign key to the account (so a new table is never forgotten), plus the
tickets and audit events that name the resident, and leaves out secrets (hashes, tokens, sealed payloads).
Erasure keeps the account row as an empty, disabled tombstone, keeps tickets with their consent record
(when, which text) but without the personal data, and pseudonymises the audit log.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any
from uuid import UUID

from tortoise import Tortoise
from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.transactions import in_transaction

from portal.core.client import ClientInfo
from portal.core.errors import RefusalCode
from portal.core.runtime import Runtime
from portal.identity.provider import revoke_partner_tokens
from portal.identity.reset import void_reset_tokens
from portal.identity.sessions import revoke_sessions
from portal.models.accounts import Account, AccountStatus, Session
from portal.models.audit import AuditEvent, record
from portal.models.desk import OwnershipVerification, RecoveryRequest, TicketNote
from portal.support import audit
from portal.support.accounts import NotFound, Refused

ERASED_NAME = "Учётная запись удалена"
REDACTED = "[удалено]"
_SECRET_MARKERS = ("hash", "secret", "token", "payload", "password", "claim")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _row(obj: Model) -> dict[str, Any]:
    """A row as JSON, without anything secret."""
    out: dict[str, Any] = {}
    for name in obj._meta.db_fields:
        if any(marker in name for marker in _SECRET_MARKERS):
            continue
        out[name] = _plain(getattr(obj, obj._meta.fields_db_projection_reverse.get(name, name), None))
    return out


def _models() -> dict[str, type[Model]]:
    apps = Tortoise.apps
    return dict(apps["models"]) if apps is not None and "models" in apps else {}


def _account_links() -> list[tuple[type[Model], str]]:
    """Every (model, foreign-key column) that points at an account."""
    links = []
    for model in _models().values():
        if model is Account:
            continue
        for fk in sorted(model._meta.fk_fields):
            field = model._meta.fields_map[fk]
            if getattr(field, "related_model", None) is Account:
                links.append((model, field.source_field or f"{fk}_id"))
    return links


def _ticket_model() -> type[Model] | None:
    return _models().get("Ticket")


async def _tickets_of(account: Account) -> list[Model]:
    """Tickets filed by the account, or naming its e-mail or phone, or linked to it by an ownership check."""
    ticket = _ticket_model()
    if ticket is None:
        return []
    condition = Q(account_id=account.id)
    if account.email:
        condition |= Q(reply_email=account.email) | Q(account_identifier=account.email)
    if account.phone:
        condition |= Q(phone=account.phone)
    linked = await OwnershipVerification.filter(account_id=account.id).values_list("ticket_number", flat=True)
    if linked:
        condition |= Q(number__in=list(linked))
    return await ticket.filter(condition).order_by("id")


async def export_account(rt: Runtime, account_id: UUID) -> dict[str, Any] | NotFound:
    account = await Account.filter(id=account_id).first()
    if account is None:
        return NotFound()
    data: dict[str, Any] = {
        "exported_at": rt.clock.now().isoformat(),
        "account": {**_row(account), "has_password": account.password_hash is not None},
    }
    related: dict[str, list[dict[str, Any]]] = {}
    for model, column in _account_links():
        rows = await model.filter(**{column: account.id})
        if rows:
            related[f"{model._meta.db_table}.{column}"] = [_row(r) for r in rows]
    data["related"] = related
    tickets = await _tickets_of(account)
    data["tickets"] = [_row(t) for t in tickets]
    numbers = [t.number for t in tickets]  # type: ignore[attr-defined]
    data["ticket_notes"] = [_row(n) for n in await TicketNote.filter(ticket_number__in=numbers)] if numbers else []
    events = await AuditEvent.filter(Q(subject_id=account.id) | Q(actor_id=account.id)).order_by("id")
    data["audit_events"] = [_row(e) for e in events]
    return data


async def erase_account(
    rt: Runtime, account_id: UUID, *, actor: Account | None = None, client: ClientInfo | None = None
) -> dict[str, int] | NotFound | Refused:
    """Removes the resident's personal data and revokes everything; returns what was touched, by kind."""
    account = await Account.filter(id=account_id).first()
    if account is None or account.erased_at is not None:
        return NotFound()
    if actor is not None and actor.id == account.id:
        return Refused(RefusalCode.SELF)
    now = rt.clock.now()
    counts: dict[str, int] = {}
    fingerprints: dict[str, str] = {}
    async with in_transaction():
        counts["sessions_revoked"] = await revoke_sessions(rt, account_id=account.id)
        counts["sessions_deleted"] = await Session.filter(account_id=account.id).delete()
        counts["reset_tokens_voided"] = await void_reset_tokens(rt, account.id)

        tickets = await _tickets_of(account)
        numbers = [t.number for t in tickets]  # type: ignore[attr-defined]
        for t in tickets:
            # What remains proves consent: the ticket number, when and to which text, and a keyed fingerprint
            # of who consented that only someone presenting the same name and phone can match.
            fingerprints[t.number] = rt.tokens.digest(  # type: ignore[attr-defined]
                "consent-fingerprint", f"{t.full_name}|{t.phone}"  # type: ignore[attr-defined]
            )
        ticket = _ticket_model()
        if ticket is not None and numbers:
            counts["tickets_anonymised"] = await ticket.filter(number__in=numbers).update(
                full_name=REDACTED,
                registration_address=REDACTED,
                phone="",
                account_identifier=REDACTED,
                reply_email=None,
                description=REDACTED,
                client_address=None,
                user_agent=None,
            )
            counts["notes_redacted"] = await TicketNote.filter(ticket_number__in=numbers).update(body=REDACTED)
        counts["verifications_redacted"] = await OwnershipVerification.filter(account_id=account.id).update(
            documents=None, comment=None
        )
        counts["recoveries_redacted"] = await RecoveryRequest.filter(account_id=account.id).update(
            new_email=None, old_email=None
        )
        if account.email:
            counts["letters_deleted"] = await _delete_letters(account.email)
        # Partners' token families end here, with back-channel logout where registered (before the sub is gone).
        counts["partner_grants_revoked"] = await revoke_partner_tokens(rt, account.id)
        counts.update(await _revoke_elsewhere(account.id))
        await Account.filter(id=account.id).update(
            full_name=ERASED_NAME,
            email=None,
            email_verified=False,
            phone=None,
            login=None,
            personal_account_number=None,
            password_hash=None,
            status=AccountStatus.DISABLED,
            erased_at=now,
        )
        counts["audit_events_pseudonymised"] = await audit.pseudonymise(rt, account.id)
        await record(
            rt,
            "account.erased",
            actor_id=actor.id if actor else None,
            subject_id=audit.pseudonym(rt, account.id),
            client=client,
            details={"via": "graphql" if actor else "cli", "counts": counts, "consent_fingerprints": fingerprints},
        )
    return counts


async def _delete_letters(address: str) -> int:
    outbox = _models().get("OutboxMessage")
    if outbox is None:
        return 0
    return int(await outbox.filter(to_address=address).delete())


async def _revoke_elsewhere(account_id: UUID) -> dict[str, int]:
    """Federated links and one-time codes go. Partner consents stay as records."""
    models = _models()
    counts: dict[str, int] = {}
    for name, key in (("FederatedIdentity", "federated_identities_deleted"), ("LoginCode", "login_codes_deleted"),
                      ("AuthorizationCode", "partner_codes_deleted")):
        model = models.get(name)
        if model is not None:
            counts[key] = int(await model.filter(account_id=account_id).delete())
    return counts
