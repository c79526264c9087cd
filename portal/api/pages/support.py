"""/support and /support/status: the support form and a ticket's status page, over the support.tickets package."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from portal.api.pages.web import PageGroup, Visit, field_errors, too_many_answer
from portal.core.errors import Invalid, TooMany
from portal.core.tokens import new_token
from portal.models.support import TicketCategory
from portal.support.tickets.keys import status_url
from portal.support.tickets.lookup import TicketView, find_ticket
from portal.support.tickets.submission import Submitted, submit_ticket
from portal.support.tickets.validation import TicketForm

# The status link carries the ticket's access key: no Referer may take it anywhere.
NO_REFERRER = "no-referrer"
STATUS_PATH = "/support/status"
KEY_COOKIE_MAX_AGE = 3600  # how long this browser keeps a ticket's key after opening its link
FIELDS = (
    "fullName",
    "registrationAddress",
    "phone",
    "accountIdentifier",
    "replyEmail",
    "category",
    "description",
    "personalDataConsent",
    "personalAccountNumber",
)


class SupportPages(PageGroup):
    async def form(self, request: Request) -> Response:
        if switched := self.pages.language_switch(request):
            return switched
        visit = await self.pages.visit(request)
        if request.method == "GET":
            return self._form(visit, self._prefill(visit), new_token())

        csrf_ok = await self.pages.read_form(visit)
        values = {name: visit.value(name, 6000) for name in FIELDS}
        key = visit.value("idempotencyKey", 200) or new_token()
        if not csrf_ok:
            return self._form(visit, values, key, problem=visit.t("form.expired"), status=403)
        category = values["category"].upper()
        form = TicketForm(
            full_name=values["fullName"],
            registration_address=values["registrationAddress"],
            phone=values["phone"],
            account_identifier=values["accountIdentifier"],
            reply_email=values["replyEmail"] or None,
            category=TicketCategory[category] if category in TicketCategory.__members__ else TicketCategory.OTHER,
            description=values["description"],
            personal_data_consent=values["personalDataConsent"] == "yes",
            idempotency_key=key,
            personal_account_number=values["personalAccountNumber"] or None,
        )
        outcome = await submit_ticket(self.rt, form, account=visit.account, client=visit.client)
        if isinstance(outcome, Submitted):
            number = outcome.view.ticket.number
            shown = self.pages.redirect(visit, STATUS_PATH + "?" + urlencode({"number": number, "new": "1"}))
            self.links.stash(shown, STATUS_PATH, {"number": number, "key": outcome.access_key}, KEY_COOKIE_MAX_AGE)
            return shown
        if isinstance(outcome, TooMany):
            return self._form(visit, values, key, **too_many_answer(outcome, visit.lang))
        assert isinstance(outcome, Invalid)
        errors = field_errors(outcome, visit.lang)
        if "idempotencyKey" in errors:  # the same key with other content: a fresh key makes it a new ticket
            errors.pop("idempotencyKey")
            key = new_token()
            if not errors:
                return self._form(visit, values, key, problem=visit.t("support.changed_resend"), status=409)
        return self._form(visit, values, key, errors=errors, status=400)

    def _prefill(self, visit: Visit) -> dict[str, str]:
        values = dict.fromkeys(FIELDS, "")
        values["category"] = TicketCategory.ACCOUNT_ACCESS.name
        account = visit.account
        if account is not None:
            values["fullName"] = account.full_name
            values["phone"] = account.phone or ""
            values["accountIdentifier"] = account.email or account.login or account.phone or ""
        return values

    def _form(self, visit: Visit, values: dict[str, str], key: str, **answer: Any) -> Response:
        categories = [
            {"value": c.name, "label": visit.t(f"ticket.category.{c.value}"), "selected": values["category"] == c.name}
            for c in TicketCategory
        ]
        return self.pages.form(visit, "support.html", {"form": values, "key": key, "categories": categories}, **answer)

    async def status(self, request: Request) -> Response:
        """The status link's key (and the look-up form's) moves at once into this browser's sealed cookie
        for this path; the page then shows `?number=…` when the cookie holds that ticket's key."""
        if switched := self.pages.language_switch(request):
            return switched
        keep = {name: request.query_params[name] for name in ("number", "new") if name in request.query_params}
        if "key" in request.query_params and (
            moved := self.links.move_out_of_url(request, ("number", "key"), KEY_COOKIE_MAX_AGE, keep=keep)
        ):
            return moved
        visit = await self.pages.visit(request)
        number = request.query_params.get("number", "")[:32]
        stashed = self.links.read(request, STATUS_PATH)
        if not number or stashed.get("number") != number:
            return self._lookup(visit, number)
        key = stashed.get("key", "")[:200]
        view = await find_ticket(self.rt, number, key)
        if view is None:
            return self._lookup(visit, number, problem=visit.t("support.not_found"), status=404)
        return self.pages.render(
            visit,
            "support_status.html",
            self._ticket(visit, view, key, new=request.query_params.get("new") == "1"),
            referrer_policy=NO_REFERRER,
        )

    def _lookup(self, visit: Visit, number: str, **answer: Any) -> Response:
        return self.pages.form(
            visit, "support_lookup.html", {"form": {"number": number}}, referrer_policy=NO_REFERRER, **answer
        )

    def _ticket(self, visit: Visit, view: TicketView, key: str, *, new: bool) -> dict[str, Any]:
        ticket = view.ticket
        return {
            "ticket": ticket,
            "status_label": visit.t(f"ticket.status.{ticket.status.value}"),
            "status_text": visit.t(f"ticket.status_text.{ticket.status.value}"),
            "category_label": visit.t(f"ticket.category.{ticket.category.value}"),
            "messages": view.messages,
            "link": status_url(self.rt, ticket.number, key),
            "new": new,
            "letter_to": ticket.reply_email or (visit.account.email if visit.account else None),
        }
