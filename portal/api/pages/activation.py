"""/activate and /confirm-email: a resident joins with the code on the bill or a mailed invitation, and
proves the address an activation named. Over identity.activation and identity.email_confirmation, as
GraphQL's activateAccount and confirmEmail use them; a successful activation signs in through the same
cookie helper as /login."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from portal.api.http import set_session_cookies
from portal.api.pages.web import Pages, Visit, field_errors, too_many_answer
from portal.core.errors import Invalid, TooMany
from portal.identity import sessions
from portal.identity.activation import Activated, ActivationRequest, activate
from portal.identity.email_confirmation import EmailConfirmed, confirm_email

# Both pages may carry a token in their URL: no Referer may ever take it anywhere.
NO_REFERRER = "no-referrer"
TOKEN_MAX = 200
FIELDS = ("personalAccount", "activationCode", "email")


class ActivationPages:
    def __init__(self, pages: Pages) -> None:
        self.pages = pages
        self.rt = pages.rt

    async def activate(self, request: Request) -> Response:
        """GET shows the form (an invitation's token is not even looked up); POST claims and signs in."""
        if switched := self.pages.language_switch(request):
            return switched
        visit = await self.pages.visit(request)
        if request.method == "GET":
            return self._form(visit, request.query_params.get("token", "")[:TOKEN_MAX], {})

        csrf_ok = await self.pages.read_form(visit)
        token = visit.value("invitationToken", TOKEN_MAX)
        values = {name: visit.value(name, 300) for name in FIELDS}
        if not csrf_ok:
            return self._form(visit, token, values, problem=visit.t("form.expired"), status=403)
        outcome = await activate(self.rt, ActivationRequest(
            personal_account=None if token else values["personalAccount"],
            activation_code=None if token else values["activationCode"],
            invitation_token=token or None,
            email=None if token else values["email"],
            password=visit.value("password", 5000),
            password_confirmation=visit.value("passwordConfirmation", 5000),
            personal_data_consent=visit.value("personalDataConsent") == "yes",
        ), visit.client, signed_in=visit.account)
        if isinstance(outcome, Activated):
            if visit.session is not None:  # the new session replaces this browser's old one
                await sessions.revoke_sessions(self.rt, session_ids=[visit.session.id])
            response = self.pages.redirect(visit, "/activate?done=" + ("confirm" if outcome.confirmation_sent else "1"))
            set_session_cookies(response, self.rt.settings, outcome.session, self.rt.clock.now())
            return response
        if isinstance(outcome, Invalid):
            return self._form(visit, token, values, errors=field_errors(outcome, visit.lang), status=400)
        if isinstance(outcome, TooMany):
            return self._form(visit, token, values, **too_many_answer(outcome, visit.lang))
        return self._form(visit, token, values, problem=visit.t("InvalidActivationCode"), status=400)

    def _form(
        self,
        visit: Visit,
        token: str,
        values: dict[str, str],
        *,
        problem: str | None = None,
        errors: dict[str, str] | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Response:
        done = visit.request.query_params.get("done") if visit.request.method == "GET" else None
        return self.pages.render(
            visit,
            "activate.html",
            {
                "done": done,
                "token": token,
                "form": {name: values.get(name, "") for name in FIELDS},
                "problem": problem,
                "errors": errors or {},
                "min_length": self.rt.settings.password_min_length,
                "max_length": self.rt.settings.password_max_length,
            },
            status=status,
            referrer_policy=NO_REFERRER,
            headers=headers,
        )

    async def confirm(self, request: Request) -> Response:
        """GET shows a button (opening the link spends nothing); POST spends the link."""
        if switched := self.pages.language_switch(request):
            return switched
        visit = await self.pages.visit(request, with_session=False)
        if request.method == "GET":
            token = request.query_params.get("token", "")[:TOKEN_MAX]
            return self.pages.render(visit, "confirm_email.html", {"token": token, "problem": None},
                                     referrer_policy=NO_REFERRER)
        csrf_ok = await self.pages.read_form(visit)
        token = visit.value("token", TOKEN_MAX)
        if not csrf_ok:
            return self.pages.render(visit, "confirm_email.html", {"token": token, "problem": visit.t("form.expired")},
                                     status=403, referrer_policy=NO_REFERRER)
        outcome = await confirm_email(self.rt, token, visit.client)
        if isinstance(outcome, EmailConfirmed):
            title, message, status = "confirm.done_title", "confirm.done", 200
        elif isinstance(outcome, TooMany):
            title, message, status = "confirm.bad_title", "confirm.too_many", 429
        else:
            title, message, status = "confirm.bad_title", "confirm.bad", 400
        page = {"title": visit.t(title), "message": visit.t(message), "link": "/account",
                "link_text": visit.t("confirm.to_account")}
        return self.pages.render(visit, "message.html", page, status=status, referrer_policy=NO_REFERRER)
