"""/desk and /desk/tickets/{number}: the staff desk's queue and one ticket, over support.desk.

Every desk page finds its staff member through `DeskPages.require_staff` (the one place that knows how the
browser session is found): anonymous visitors go to sign in, residents get a plain 403, and ADMIN-only pages
refuse staff. Forms post to `/desk/tickets/{number}/{action}`, answer 303 on success and re-render the ticket
with the refusal in words next to the form that caused it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response

from portal.api.pages.web import PageGroup, Pages, Visit, field_errors
from portal.core.errors import FieldCode, FieldProblem, Invalid
from portal.core.i18n import code_message, t, tn
from portal.core.localtime import format_local
from portal.identity.identifiers import has_control_characters
from portal.identity.personal_accounts import holder_ids
from portal.identity.second_factor import has_second_factor
from portal.models.accounts import Account, Role
from portal.models.desk import Evidence, VerificationOutcome
from portal.models.support import TicketCategory, TicketStatus
from portal.support import desk_views
from portal.support.accounts import NotFound, Refused, find_account_ref
from portal.support.desk import (
    TicketDetails,
    add_note,
    assign,
    change_status,
    list_tickets,
    request_email_change,
    send_reset_link,
    ticket_details,
    verify_ownership,
)

STAFF_ROLES = (Role.STAFF, Role.ADMIN)
# After a successful post the page says what happened: the query names a key, never text.
TICKET_NOTICES = {
    "assigned": "desk.notice.assigned",
    "status": "desk.notice.status",
    "note": "desk.notice.note",
    "verified": "desk.notice.verified",
    "reset": "desk.notice.reset",
    "email": "desk.notice.email",
}

Action = Callable[[Visit, Account, str], Awaitable[tuple[Any, str]]]


@dataclass(frozen=True, slots=True)
class QueueLine:
    """One row of the queue page, every text ready: the template only prints (50 rows stay cheap to render)."""

    number: str
    full_name: str
    contact: str
    status: str
    status_label: str
    category_label: str
    age: str
    created_iso: str
    created_text: str
    holder: str
    held: bool
    you: str | None


def describe_outcome(outcome: Any, lang: str) -> tuple[str | None, dict[str, str]]:
    """A service's refusal in words (never a raw code) and its field errors; (None, {}) means it worked."""
    if isinstance(outcome, NotFound):
        return t("desk.not_found", lang), {}
    if isinstance(outcome, Refused):
        return code_message(outcome.code, lang), {}
    if isinstance(outcome, Invalid | FieldProblem):
        return t("form.fix_errors", lang), field_errors(outcome, lang)
    return None, {}


@dataclass(frozen=True)
class Answer:
    """How a page answers a post that did not go through: which form, why (in words), field errors, status."""

    form: str | None = None
    problem: str | None = None
    errors: dict[str, str] = field(default_factory=dict)
    status: int = 200

    @classmethod
    def of(cls, form: str | None, outcome: Any, lang: str) -> Answer | None:
        """None when the service's outcome is a success."""
        problem, errors = describe_outcome(outcome, lang)
        if problem is None:
            return None
        status = 404 if isinstance(outcome, NotFound) else 409 if isinstance(outcome, Refused) else 400
        return cls(form, problem, errors, status)

    def context(self) -> dict[str, Any]:
        return {"failed": self.form, "problem": self.problem, "errors": self.errors}


def age(since: datetime, now: datetime, lang: str) -> str:
    """How long a ticket has waited, in the largest whole unit: «3 часа», «2 дня»."""
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return tn("desk.age.minutes", minutes, lang)
    if minutes < 48 * 60:
        return tn("desk.age.hours", minutes // 60, lang)
    return tn("desk.age.days", minutes // (24 * 60), lang)


def choice(enum: Any, raw: str, field: str) -> Any:
    """A form's `<select>` or radio value by its member name (the contract's values), or a field problem."""
    if raw in enum.__members__:
        return enum[raw]
    raise FieldProblem(field, FieldCode.INVALID_CHOICE)


def options(enum: Any, selected: str, label: Callable[[Any], str]) -> list[dict[str, Any]]:
    return [{"value": m.name, "label": label(m), "selected": m.name == selected} for m in enum]


class DeskPages(PageGroup):
    def __init__(self, pages: Pages) -> None:
        super().__init__(pages)
        self.actions: dict[str, Action] = {
            "assign": self._assign,
            "status": self._status,
            "note": self._note,
            "verify": self._verify,
            "reset-link": self._reset_link,
            "email-change": self._email_change,
        }

    # ---- who may use the desk ----------------------------------------------------------------

    async def require_staff(
        self, request: Request, *, admin: bool = False, back: str | None = None
    ) -> Visit | Response:
        """The signed-in staff member's visit, or the answer for anyone else.

        The only place the desk asks who is signed in (through the browser session `Pages.visit` finds):
        anonymous → sign in and come back; a resident (or staff on an ADMIN page) → 403 in plain words.
        """
        visit = await self.pages.signed_in(request, back)
        if isinstance(visit, Response):
            return visit
        account = visit.account
        assert account is not None
        allowed = (Role.ADMIN,) if admin else STAFF_ROLES
        if not account.is_active or Role(account.role) not in allowed:
            return self.forbidden(visit, account, admin=admin)
        if self.pages.rt.settings.staff_need_second_factor and not await has_second_factor(account.id):
            return self.enrol_first(visit)
        return visit

    async def staff_page(self, request: Request, *, admin: bool = False) -> Visit | Response:
        """A desk page (GET): `?lang=xx` answered first (remembered, then the same URL without it), then
        `require_staff`."""
        if switched := self.pages.language_switch(request):
            return switched
        return await self.require_staff(request, admin=admin)

    def enrol_first(self, visit: Visit) -> Response:
        """PORTAL_STAFF_SECOND_FACTOR: a staff account opens the desk only with a second factor in place."""
        context = {
            "title": visit.t("desk.second_factor_title"),
            "message": visit.t("desk.second_factor_needed"),
            "link": "/account/two-factor",
            "link_text": visit.t("desk.second_factor_enrol"),
        }
        return self.pages.render(visit, "message.html", context, status=403)

    def forbidden(self, visit: Visit, account: Account, *, admin: bool) -> Response:
        """403 in plain words: the desk is for staff (or this page for administrators)."""
        staff = Role(account.role) in STAFF_ROLES and account.is_active
        context = {
            "title": visit.t("desk.forbidden_title"),
            "message": visit.t("desk.forbidden_admin") if admin and staff else visit.t("desk.forbidden"),
            "link": "/desk" if staff else "/account",
            "link_text": visit.t("desk.queue.title") if staff else visit.t("account.back"),
        }
        return self.pages.render(visit, "message.html", context, status=403)

    def missing(self, visit: Visit, title_key: str, message_key: str) -> Response:
        """404 in plain words, with the way back to the queue."""
        context = {"title": visit.t(title_key), "message": visit.t(message_key), "link": "/desk",
                   "link_text": visit.t("desk.queue.title")}
        return self.pages.render(visit, "message.html", context, status=404)

    def render(self, visit: Visit, template: str, context: dict[str, Any], *, status: int = 200) -> Response:
        """A desk page: the header names the staff member and the role."""
        assert visit.account is not None
        staff = visit.account
        values = {
            "staff": staff,
            "role_label": visit.t(f"desk.role.{Role(staff.role).value}"),
            "is_admin": Role(staff.role) == Role.ADMIN,
            **context,
        }
        return self.pages.render(visit, template, values, status=status)

    # ---- the queue -----------------------------------------------------------------------------

    async def queue(self, request: Request) -> Response:
        visit = await self.staff_page(request)
        if isinstance(visit, Response):
            return visit
        return await self._queue(visit)

    async def _queue(self, visit: Visit, *, lookup_problem: str | None = None, status: int = 200) -> Response:
        assert visit.account is not None
        params = visit.request.query_params
        form: dict[str, Any] = {
            "status": params.get("status", "")[:40],
            "category": params.get("category", "")[:40],
            "mine": params.get("mine") == "1",
            "search": params.get("search", "")[:200],
            "identifier": params.get("identifier", "")[:300],
        }
        status_name, category_name, search = str(form["status"]), str(form["category"]), str(form["search"])
        after = params.get("after")
        problem = None
        page = None
        try:
            page = await list_tickets(
                self.rt,
                staff=visit.account,
                status=choice(TicketStatus, status_name, "status") if status_name else None,
                category=choice(TicketCategory, category_name, "category") if category_name else None,
                assigned_to_me=bool(form["mine"]),
                search=search or None,
                after=after[:200] if after else None,
            )
        except FieldProblem as bad:
            problem = visit.t(f"desk.queue.bad_{bad.field}") if bad.field in ("after", "search") else None
            problem = problem or visit.t("form.fix_errors")
            status = 400
        now = self.rt.clock.now()
        zone = self.rt.settings.zone
        holder_you, nobody = visit.t("desk.queue.you"), visit.t("desk.queue.nobody")
        rows = [
            QueueLine(
                number=r.number,
                full_name=r.full_name,
                contact=r.phone + (f" · {r.reply_email}" if r.reply_email else ""),
                status=r.status.value,
                status_label=visit.t(f"ticket.status.{r.status.value}"),
                category_label=visit.t(f"ticket.category.{r.category.value}"),
                age=age(r.created_at, now, visit.lang),
                created_iso=r.created_at.isoformat(),
                created_text=format_local(r.created_at, zone, visit.lang),
                holder=r.assigned_to_name or nobody,
                held=r.assigned_to_name is not None,
                you=holder_you if r.assigned_to_id == visit.account.id else None,
            )
            for r in (page.items if page else [])
        ]
        filters = [(k, v) for k, v in (("status", status_name), ("category", category_name), ("search", search)) if v]
        if form["mine"]:
            filters.append(("mine", "1"))
        next_link = None
        if page is not None and page.has_next_page and page.end_cursor:
            next_link = "/desk?" + urlencode([*filters, ("after", page.end_cursor)])
        context = {
            "form": form,
            "rows": rows,
            "total": page.total_count if page else 0,
            "next_link": next_link,
            "first_link": "/desk?" + urlencode(filters) if after else None,
            "statuses": options(TicketStatus, status_name, lambda s: visit.t(f"ticket.status.{s.value}")),
            "categories": options(TicketCategory, category_name, lambda c: visit.t(f"ticket.category.{c.value}")),
            "accounts": await self._accounts_matching(search) if search.strip() else [],
            "problem": problem,
            "lookup_problem": lookup_problem,
        }
        return self.render(visit, "desk_queue.html", context, status=status)

    async def _accounts_matching(self, text: str) -> list[Account]:
        """Accounts the search text names exactly (an identifier or a personal account number): one click away."""
        found: dict[UUID, Account] = {}
        if has_control_characters(text):  # refused by the queue's search already; PostgreSQL rejects NUL
            return []
        if (account := await find_account_ref(self.rt, text[:300])) is not None:
            found[account.id] = account
        for account in await Account.filter(id__in=(await holder_ids(text.strip()[:64]))[:5]):
            found[account.id] = account
        return [a for a in found.values() if a.erased_at is None]

    async def account_lookup(self, request: Request) -> Response:
        """The look-up form on /desk: to the account's page, or the queue with the reason."""
        visit = await self.require_staff(request)
        if isinstance(visit, Response):
            return visit
        identifier = request.query_params.get("identifier", "")[:300]
        account = await find_account_ref(self.rt, identifier) if identifier.strip() else None
        if account is None:
            return await self._queue(visit, lookup_problem=visit.t("desk.lookup.not_found"), status=404)
        return self.pages.redirect(visit, f"/desk/accounts/{account.id}")

    # ---- one ticket ----------------------------------------------------------------------------

    async def ticket(self, request: Request) -> Response:
        visit = await self.staff_page(request)
        if isinstance(visit, Response):
            return visit
        notice = TICKET_NOTICES.get(request.query_params.get("notice", ""))
        return await self._ticket(visit, request.path_params["number"][:32], notice=notice)

    async def ticket_action(self, request: Request) -> Response:
        number = request.path_params["number"][:32]
        action = self.actions.get(request.path_params["action"])
        visit = await self.require_staff(request, back=f"/desk/tickets/{number}")
        if isinstance(visit, Response):
            return visit
        assert visit.account is not None
        name = request.path_params["action"]
        if action is None:
            return await self._ticket(visit, number, answer=Answer(status=404))
        if not await self.pages.read_form(visit):
            return await self._ticket(visit, number, answer=Answer(name, visit.t("form.expired"), status=403))
        try:
            outcome, notice = await action(visit, visit.account, number)
        except FieldProblem as bad:
            outcome, notice = Invalid.of(bad), ""
        answer = Answer.of(name, outcome, visit.lang)
        if answer is None:
            return self.pages.redirect(visit, f"/desk/tickets/{number}?notice={notice}#{name}")
        return await self._ticket(visit, number, answer=answer)

    async def _assign(self, visit: Visit, staff: Account, number: str) -> tuple[Any, str]:
        raw = visit.value("assignee", 100)
        try:
            assignee = None if raw in ("", "me") else UUID(raw)
        except ValueError:
            return NotFound(), ""
        return await assign(self.rt, number, assignee, staff=staff, client=visit.client), "assigned"

    async def _status(self, visit: Visit, staff: Account, number: str) -> tuple[Any, str]:
        status = choice(TicketStatus, visit.value("status", 40), "status")
        outcome = await change_status(self.rt, number, status, visit.value("publicMessage", 6000) or None,
                                      staff=staff, client=visit.client)
        return outcome, "status"

    async def _note(self, visit: Visit, staff: Account, number: str) -> tuple[Any, str]:
        return await add_note(self.rt, number, visit.value("body", 6000), staff=staff, client=visit.client), "note"

    async def _verify(self, visit: Visit, staff: Account, number: str) -> tuple[Any, str]:
        assert visit.form is not None
        evidence = [choice(Evidence, str(v)[:40], "evidence") for v in visit.form.getlist("evidence")]
        outcome = choice(VerificationOutcome, visit.value("outcome", 40), "outcome")
        account_ref = visit.value("account", 300)
        if not account_ref.strip():
            return Invalid.of(FieldProblem("account", FieldCode.REQUIRED)), ""
        result = await verify_ownership(
            self.rt, number, account_ref, evidence=evidence, outcome=outcome,
            documents=visit.value("documents", 400) or None, comment=visit.value("comment", 6000) or None,
            staff=staff, client=visit.client,
        )
        return result, "verified"

    async def _reset_link(self, visit: Visit, staff: Account, number: str) -> tuple[Any, str]:
        return await send_reset_link(self.rt, number, staff=staff, client=visit.client), "reset"

    async def _email_change(self, visit: Visit, staff: Account, number: str) -> tuple[Any, str]:
        outcome = await request_email_change(self.rt, number, visit.value("newEmail", 400) or None,
                                             staff=staff, client=visit.client)
        return outcome, "email"

    async def _ticket(
        self, visit: Visit, number: str, *, notice: str | None = None, answer: Answer | None = None
    ) -> Response:
        assert visit.account is not None
        details = await ticket_details(self.rt, number, staff=visit.account, client=visit.client)
        if not isinstance(details, TicketDetails):
            return self.missing(visit, "desk.not_found_title", "desk.not_found")
        context: dict[str, Any] = await self._ticket_context(visit, details)
        answer = answer or Answer()
        context.update(answer.context())
        context["notice"] = visit.t(notice) if notice else None
        failed = answer.form is not None
        context["form"] = {k: v for k, v in (visit.form or {}).items() if k != "csrf"} if failed else {}
        context["evidence_checked"] = visit.form.getlist("evidence") if failed and visit.form else []
        return self.render(visit, "desk_ticket.html", context, status=answer.status)

    async def _ticket_context(self, visit: Visit, details: TicketDetails) -> dict[str, Any]:
        ticket = details.ticket
        people = {r.requested_by_id for r in details.recoveries} | {r.decided_by_id for r in details.recoveries}  # type: ignore[attr-defined]
        people |= {e.actor_id for e in details.events} | {m.author_id for m in details.messages}  # type: ignore[attr-defined]
        people.discard(None)
        names = dict(await Account.filter(id__in=people).values_list("id", "full_name")) if people else {}
        account = ticket.account
        latest = details.verifications[-1] if details.verifications else None
        return {
            "ticket": ticket,
            "details": details,
            "names": names,
            "status_label": visit.t(f"ticket.status.{ticket.status.value}"),
            "category_label": visit.t(f"ticket.category.{ticket.category.value}"),
            "age": age(ticket.created_at, self.rt.clock.now(), visit.lang),
            "staff_members": [{"value": str(s.id), "label": s.full_name} for s in await desk_views.staff_members()],
            "statuses": options(TicketStatus, "", lambda s: visit.t(f"ticket.status.{s.value}")),
            "evidence_options": [{"value": e.name, "label": visit.t(f"desk.evidence.{e.value}")} for e in Evidence],
            "outcome_options": [{"value": o.name, "label": visit.t(f"desk.outcome.{o.value}")}
                                for o in VerificationOutcome],
            "account_default": (account.email or account.login or account.phone or "") if account
            else ticket.account_identifier,
            "verified": latest is not None and latest.outcome == VerificationOutcome.VERIFIED,
            "latest_check": latest,
        }
