"""/desk/accounts/{id} and /desk/approvals: one account for staff, and ADMIN's second-person decisions.

The same services as the GraphQL desk (support.accounts, support.privacy, support.desk), so the rules stay
in one place: staff manage residents only, nobody acts on their own account, an e-mail change is decided by
an ADMIN other than the one who asked for it, erasure needs a typed confirmation here.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response

from portal.api.pages.account import EVENT_LABELS
from portal.api.pages.desk import Answer, DeskPages
from portal.api.pages.web import Visit, describe_device
from portal.core.errors import FieldCode, FieldProblem, Invalid
from portal.identity.identifiers import has_control_characters
from portal.models.accounts import Account, Role
from portal.models.audit import record
from portal.models.desk import RecoveryKind
from portal.support import desk_views
from portal.support.accounts import NotFound, set_disabled, set_role, unlock
from portal.support.desk import decide_email_change, refuse_decision_by_role
from portal.support.privacy import erase_account, export_account

ACCOUNT_NOTICES = {
    "disabled": "desk.notice.disabled",
    "enabled": "desk.notice.enabled",
    "unlocked": "desk.notice.unlocked",
    "role": "desk.notice.role",
    "erased": "desk.notice.erased",
}
APPROVAL_NOTICES = {"approved": "desk.notice.approved", "rejected": "desk.notice.rejected"}
# Typed before erasure, in either language: the page asks for the word of its own language.
ERASE_WORDS = ("УДАЛИТЬ", "ERASE")
ADMIN_ACTIONS = ("role", "export", "erase")

AccountAction = Callable[[Visit, Account, UUID], Awaitable[tuple[Any, str]]]


def _uuid(raw: str) -> UUID | None:
    try:
        return UUID(raw[:64])
    except ValueError:
        return None


class DeskAccountPages:
    def __init__(self, desk: DeskPages) -> None:
        self.desk = desk
        self.pages = desk.pages
        self.rt = desk.rt
        self.actions: dict[str, AccountAction] = {
            "disable": self._disable,
            "enable": self._enable,
            "unlock": self._unlock,
            "role": self._role,
            "erase": self._erase,
        }

    # ---- one account ---------------------------------------------------------------------------

    async def show(self, request: Request) -> Response:
        visit = await self.desk.staff_page(request)
        if isinstance(visit, Response):
            return visit
        notice = ACCOUNT_NOTICES.get(request.query_params.get("notice", ""))
        return await self._account(visit, request.path_params["account_id"], notice=notice)

    async def action(self, request: Request) -> Response:
        raw_id = request.path_params["account_id"][:64]
        name = request.path_params["action"]
        visit = await self.desk.require_staff(request, admin=name in ADMIN_ACTIONS, back=f"/desk/accounts/{raw_id}")
        if isinstance(visit, Response):
            return visit
        assert visit.account is not None
        account_id = _uuid(raw_id)
        if account_id is None or (name not in self.actions and name != "export"):
            return await self._account(visit, raw_id, answer=Answer(status=404))
        if not await self.pages.read_form(visit):
            return await self._account(visit, raw_id, answer=Answer(name, visit.t("form.expired"), status=403))
        if name == "export":
            return await self._export(visit, visit.account, account_id)
        outcome, notice = await self.actions[name](visit, visit.account, account_id)
        answer = Answer.of(name, outcome, visit.lang)
        if answer is None:
            return self.pages.redirect(visit, f"/desk/accounts/{account_id}?notice={notice}")
        return await self._account(visit, raw_id, answer=answer)

    async def _disable(self, visit: Visit, staff: Account, account_id: UUID) -> tuple[Any, str]:
        reason = visit.value("reason", 500)
        if has_control_characters(reason):  # it goes into the audit log's JSON, where PostgreSQL refuses NUL
            return Invalid.of(FieldProblem("reason", FieldCode.INVALID_CHARACTERS)), ""
        outcome = await set_disabled(self.rt, account_id, True, actor=staff, client=visit.client,
                                     reason=reason or None)
        return outcome, "disabled"

    async def _enable(self, visit: Visit, staff: Account, account_id: UUID) -> tuple[Any, str]:
        return await set_disabled(self.rt, account_id, False, actor=staff, client=visit.client), "enabled"

    async def _unlock(self, visit: Visit, staff: Account, account_id: UUID) -> tuple[Any, str]:
        return await unlock(self.rt, account_id, actor=staff, client=visit.client), "unlocked"

    async def _role(self, visit: Visit, staff: Account, account_id: UUID) -> tuple[Any, str]:
        raw = visit.value("role", 20)
        if raw not in Role.__members__:
            return NotFound(), ""
        return await set_role(self.rt, account_id, Role[raw], actor=staff, client=visit.client), "role"

    async def _erase(self, visit: Visit, staff: Account, account_id: UUID) -> tuple[Any, str]:
        if visit.value("confirmation", 40).strip().upper() not in ERASE_WORDS:
            return Invalid.of(FieldProblem("confirmation", FieldCode.ERASE_CONFIRMATION)), ""
        return await erase_account(self.rt, account_id, actor=staff, client=visit.client), "erased"

    async def _export(self, visit: Visit, staff: Account, account_id: UUID) -> Response:
        """152-FZ: everything held about the account as a JSON download; audited like the GraphQL export."""
        data = await export_account(self.rt, account_id)
        if isinstance(data, NotFound):
            return await self._account(visit, str(account_id), answer=Answer(status=404))
        await record(self.rt, "account.exported", actor_id=staff.id, subject_id=account_id, client=visit.client,
                     details={"via": "desk"})
        body = json.dumps(data, ensure_ascii=False, indent=2)
        response = Response(body, media_type="application/json; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="account-{account_id}.json"',
        })
        self.pages.finish(visit, response)
        return response

    async def _account(
        self, visit: Visit, raw_id: str, *, notice: str | None = None, answer: Answer | None = None
    ) -> Response:
        assert visit.account is not None
        account_id = _uuid(raw_id)
        overview = None
        if account_id is not None:
            overview = await desk_views.account_overview(self.rt, account_id, staff=visit.account, client=visit.client)
        if overview is None:
            return self.desk.missing(visit, "desk.account_not_found_title", "desk.account_not_found")
        account = overview.account
        context: dict[str, Any] = {
            "profile": account,
            "overview": overview,
            "is_self": account.id == visit.account.id,
            "profile_role": visit.t(f"desk.role.{Role(account.role).value}"),
            "roles": [{"value": r.name, "label": visit.t(f"desk.role.{r.value}"), "selected": r == account.role}
                      for r in Role],
            "devices": [{"session": s, "device": describe_device(s.user_agent, visit.lang)}
                        for s in overview.sessions],
            "events": [{"event": e, "label": visit.t(EVENT_LABELS.get(e.action, "event.other"))}
                       for e in overview.events],
            "ticket_status": {t.number: visit.t(f"ticket.status.{t.status.value}") for t in overview.tickets},
            "erase_word": ERASE_WORDS[0] if visit.lang == "ru" else ERASE_WORDS[1],
            "notice": visit.t(notice) if notice else None,
        }
        answer = answer or Answer()
        context.update(answer.context())
        return self.desk.render(visit, "desk_account.html", context, status=answer.status)

    # ---- approvals -----------------------------------------------------------------------------

    async def approvals(self, request: Request) -> Response:
        visit = await self.desk.staff_page(request, admin=True)
        if isinstance(visit, Response):
            return visit
        notice = APPROVAL_NOTICES.get(request.query_params.get("notice", ""))
        return await self._approvals(visit, notice=visit.t(notice) if notice else None)

    async def decide(self, request: Request) -> Response:
        """Approve or reject; a non-admin's attempt is refused and audited like the GraphQL one."""
        decision = request.path_params["decision"]
        approve = decision == "approve"
        request_id = _uuid(request.path_params["request_id"])
        visit = await self.desk.require_staff(request, back="/desk/approvals")
        if isinstance(visit, Response):
            return visit
        assert visit.account is not None
        if Role(visit.account.role) != Role.ADMIN:
            if await self.pages.read_form(visit):
                await refuse_decision_by_role(self.rt, request_id, approve, staff=visit.account, client=visit.client)
            return self.desk.forbidden(visit, visit.account, admin=True)
        if not await self.pages.read_form(visit):
            return await self._approvals(visit, problem=visit.t("form.expired"), failed=request_id, status=403)
        if request_id is None or decision not in ("approve", "reject"):
            return await self._approvals(visit, problem=visit.t("desk.not_found"), status=404)
        kind = await desk_views.decision_kind(request_id) or RecoveryKind.EMAIL_CHANGE
        outcome = await decide_email_change(
            self.rt, request_id, approve, admin=visit.account, client=visit.client, kind=kind
        )
        answer = Answer.of(str(request_id), outcome, visit.lang)
        if answer is None:
            return self.pages.redirect(visit, "/desk/approvals?notice=" + ("approved" if approve else "rejected"))
        return await self._approvals(visit, problem=answer.problem, failed=request_id, status=answer.status)

    async def _approvals(
        self,
        visit: Visit,
        *,
        notice: str | None = None,
        problem: str | None = None,
        failed: UUID | None = None,
        status: int = 200,
    ) -> Response:
        pending = await desk_views.pending_decisions()
        context: dict[str, Any] = {
            "pending": pending,
            "evidence_label": lambda value: visit.t(f"desk.evidence.{value}"),
            "notice": notice,
            "problem": problem,
            "failed": failed,
        }
        return self.desk.render(visit, "desk_approvals.html", context, status=status)
