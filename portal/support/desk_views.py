"""What the staff desk pages read besides the queue and a ticket: pending e-mail changes, one account, staff.

The rules stay in `support.desk`, `support.accounts` and `support.privacy`; this module only gathers rows
for the pages, and audits a staff member opening an account's personal data (`account.viewed`) the way
`desk.ticket_details` audits a ticket.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from portal.core.client import ClientInfo
from portal.core.runtime import Runtime
from portal.identity import federation
from portal.identity.personal_accounts import Holding, holdings_of
from portal.identity.sessions import active_sessions
from portal.models.accounts import Account, AccountStatus, Role, Session
from portal.models.audit import AuditEvent, record
from portal.models.desk import OwnershipVerification, RecoveryKind, RecoveryRequest, RecoveryStatus
from portal.models.support import Ticket
from portal.support import audit
from portal.support.privacy import tickets_of

ACCOUNT_TICKETS_MAX = 50


@dataclass(frozen=True)
class PendingChange:
    """An e-mail change waiting for a second person, with the ownership check it rests on."""

    request: RecoveryRequest
    account: Account | None
    requested_by: Account | None
    check: OwnershipVerification | None


@dataclass(frozen=True)
class AccountOverview:
    """One account as staff see it."""

    account: Account
    links: list[federation.Link]
    sessions: list[Session]
    events: list[AuditEvent]
    tickets: list[Ticket]
    holdings: list[Holding]  # the personal accounts (лицевые счета) the account holds


TWO_PERSON_KINDS = (RecoveryKind.EMAIL_CHANGE, RecoveryKind.SECOND_FACTOR)


async def pending_decisions(limit: int = 100) -> list[PendingChange]:
    """What waits for a second person (e-mail changes, second-factor removals), oldest first: the one waiting
    longest is decided first."""
    requests = await RecoveryRequest.filter(
        kind__in=TWO_PERSON_KINDS, status=RecoveryStatus.AWAITING_APPROVAL
    ).order_by("created_at").limit(limit).select_related("account", "requested_by")
    numbers = {r.ticket_number for r in requests}
    checks: dict[str, OwnershipVerification] = {}
    if numbers:
        for check in await OwnershipVerification.filter(ticket_number__in=numbers).order_by("id"):
            checks[check.ticket_number] = check  # the latest check of each ticket wins
    return [PendingChange(r, r.account, r.requested_by, checks.get(r.ticket_number)) for r in requests]


async def staff_members() -> list[Account]:
    """Who a ticket can be assigned to: active staff and admins, by name."""
    return await Account.filter(
        role__in=[Role.STAFF, Role.ADMIN], status=AccountStatus.ACTIVE, erased_at__isnull=True
    ).order_by("full_name")


async def account_overview(
    rt: Runtime, account_id: UUID, *, staff: Account, client: ClientInfo
) -> AccountOverview | None:
    """The account, its providers, live sessions, recent security events and tickets; the view is audited."""
    account = await Account.filter(id=account_id).first()
    if account is None:
        return None
    tickets = list(reversed(await tickets_of(account)))[:ACCOUNT_TICKETS_MAX]  # the same set an export holds
    overview = AccountOverview(
        account=account,
        links=await federation.linked_identities(rt, account.id) if account.erased_at is None else [],
        sessions=await active_sessions(rt, account.id),
        events=await audit.recent_for_account(account.id),
        tickets=tickets,  # type: ignore[arg-type]
        holdings=await holdings_of(account.id),
    )
    await record(rt, "account.viewed", actor_id=staff.id, subject_id=account.id, client=client,
                 details={"via": "desk"})
    return overview


async def decision_kind(request_id: UUID) -> RecoveryKind | None:
    """Which two-person decision a request is (the page posts only its id)."""
    request = await RecoveryRequest.filter(id=request_id, kind__in=TWO_PERSON_KINDS).only("id", "kind").first()
    return RecoveryKind(request.kind) if request else None
