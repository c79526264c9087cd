"""/activate: a resident joins with the code on the bill or a mailed invitation, over identity.activation as
GraphQL's activateAccount uses it (the address named is proven at /confirm-email, the e-mail change's page);
a successful activation signs in through the same cookie helper as /login."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from portal.api.http import set_session_cookie
from portal.api.pages.web import TOKEN_MAX, PageGroup, Visit, refusal_answer
from portal.identity import sessions
from portal.identity.activation import Activated, ActivationRequest, activate

# Both pages may carry a token in their URL: no Referer may ever take it anywhere.
NO_REFERRER = "no-referrer"
FIELDS = ("personalAccount", "activationCode", "email")


ACTIVATE_PATH = "/activate"
INVITATION_COOKIE_MAX_AGE = 3600  # an opened invitation waits this long in its sealed cookie for the form


class ActivationPages(PageGroup):
    async def activate(self, request: Request) -> Response:
        """GET shows the form (an invitation's token is not even looked up); POST claims and signs in."""
        opened = await self.link_visit(request, INVITATION_COOKIE_MAX_AGE)
        if isinstance(opened, Response):
            return opened  # `?lang=`, or an invitation's token leaving the address bar (api/pages/links.py)
        visit, stashed = opened
        if request.method == "GET":
            return self._form(visit, stashed, {})

        csrf_ok = await self.pages.read_form(visit)
        token = stashed or visit.value("invitationToken", TOKEN_MAX)
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
            cookie = await sessions.open_browser_session(self.rt, outcome.session.session)
            response = self.pages.redirect(visit, "/activate?done=" + ("confirm" if outcome.confirmation_sent else "1"))
            self.links.forget(response, ACTIVATE_PATH)
            set_session_cookie(response, self.rt.settings, cookie, outcome.session.session, self.rt.clock.now())
            return response
        if answer := refusal_answer(outcome, visit.lang):
            return self._form(visit, token, values, **answer)
        return self._form(visit, token, values, problem=visit.t("InvalidActivationCode"), status=400)

    def _form(self, visit: Visit, token: str, values: dict[str, str], **answer: Any) -> Response:
        done = visit.request.query_params.get("done") if visit.request.method == "GET" else None
        context = {
            "done": done,
            "token": token,
            "form": {name: values.get(name, "") for name in FIELDS},
            "min_length": self.rt.settings.password_min_length,
            "max_length": self.rt.settings.password_max_length,
        }
        return self.pages.form(visit, "activate.html", context, referrer_policy=NO_REFERRER, **answer)
