"""/forgot-password and /reset-password: the mailed-link journey over identity.reset (as GraphQL uses it)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from portal.api.pages.web import TOKEN_MAX, PageGroup, Visit, refusal_answer
from portal.identity.reset import PasswordReset, request_password_reset, reset_password

# The reset page carries its token in the URL: no Referer may ever take it anywhere.
NO_REFERRER = "no-referrer"
RESET_PATH = "/reset-password"


class ResetPages(PageGroup):
    # ---- /forgot-password ----------------------------------------------------------------------

    async def forgot(self, request: Request) -> Response:
        if switched := self.pages.language_switch(request):
            return switched
        visit = await self.pages.visit(request, with_session=False)
        if request.method == "GET":
            if request.query_params.get("sent") == "1":
                return self.pages.render(visit, "forgot_sent.html", {"minutes": self.rt.settings.reset_token_ttl // 60})
            return self._forgot_form(visit)

        csrf_ok = await self.pages.read_form(visit)
        identifier = visit.value("identifier", 400)
        if not csrf_ok:
            return self._forgot_form(visit, identifier, problem=visit.t("form.expired"), status=403)
        outcome = await request_password_reset(self.rt, identifier, visit.client)
        if answer := refusal_answer(outcome, visit.lang):
            return self._forgot_form(visit, identifier, **answer)
        return self.pages.redirect(visit, "/forgot-password?sent=1")  # the same answer for everyone

    def _forgot_form(self, visit: Visit, identifier: str = "", **answer: Any) -> Response:
        return self.pages.form(visit, "forgot.html", {"form": {"identifier": identifier}}, **answer)

    # ---- /reset-password -----------------------------------------------------------------------

    async def reset(self, request: Request) -> Response:
        """GET only shows the form (the token is not even looked up, so opening the link spends nothing).

        The mailed link's token moves at once from the address bar into this browser's sealed cookie
        for this path (api/pages/links.py); the form posts without it.
        """
        opened = await self.link_visit(request, self.rt.settings.reset_token_ttl, with_session=False)
        if isinstance(opened, Response):
            return opened
        visit, stashed = opened
        if request.method == "GET":
            if request.query_params.get("done") == "1":
                return self.pages.render(visit, "reset_done.html", referrer_policy=NO_REFERRER)
            if not stashed:
                return self._bad_link(visit, status=400)
            return self._reset_form(visit)

        csrf_ok = await self.pages.read_form(visit)
        token = stashed or visit.value("token", TOKEN_MAX)  # a form field: pages opened before this change
        if not csrf_ok:
            return self._reset_form(visit, problem=visit.t("form.expired"), status=403)
        outcome = await reset_password(
            self.rt,
            token,
            visit.value("newPassword", 5000),
            visit.value("newPasswordConfirmation", 5000),
            visit.client,
        )
        if isinstance(outcome, PasswordReset):
            done = self.pages.redirect(visit, "/reset-password?done=1")
            self.links.forget(done, RESET_PATH)
            return done
        if answer := refusal_answer(outcome, visit.lang):
            return self._reset_form(visit, **answer)
        return self._bad_link(visit, status=400)

    def _reset_form(self, visit: Visit, **answer: Any) -> Response:
        context = {"min_length": self.rt.settings.password_min_length,
                   "max_length": self.rt.settings.password_max_length}
        return self.pages.form(visit, "reset.html", context, referrer_policy=NO_REFERRER, **answer)

    def _bad_link(self, visit: Visit, *, status: int) -> Response:
        return self.pages.render(
            visit,
            "message.html",
            {
                "title": visit.t("reset.bad_link_title"),
                "message": visit.t("InvalidToken"),
                "link": "/forgot-password",
                "link_text": visit.t("reset.request_again"),
            },
            status=status,
            referrer_policy=NO_REFERRER,
        )
