"""/forgot-password and /reset-password: the mailed-link journey over identity.reset (as GraphQL uses it)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from portal.api.pages.links import LinkSecrets
from portal.api.pages.web import Pages, Visit, field_errors, too_many_answer
from portal.core.errors import Invalid, TooMany
from portal.identity.reset import PasswordReset, request_password_reset, reset_password

# The reset page carries its token in the URL: no Referer may ever take it anywhere.
NO_REFERRER = "no-referrer"
TOKEN_MAX = 200
RESET_PATH = "/reset-password"


class ResetPages:
    def __init__(self, pages: Pages) -> None:
        self.pages = pages
        self.rt = pages.rt
        self.links = LinkSecrets(pages.rt)

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
        if isinstance(outcome, TooMany):
            return self._forgot_form(visit, identifier, **too_many_answer(outcome, visit.lang))
        if isinstance(outcome, Invalid):
            return self._forgot_form(visit, identifier, errors=field_errors(outcome, visit.lang), status=400)
        return self.pages.redirect(visit, "/forgot-password?sent=1")  # the same answer for everyone

    def _forgot_form(
        self,
        visit: Visit,
        identifier: str = "",
        *,
        problem: str | None = None,
        errors: dict[str, str] | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Response:
        return self.pages.render(
            visit,
            "forgot.html",
            {"form": {"identifier": identifier}, "problem": problem, "errors": errors or {}},
            status=status,
            headers=headers,
        )

    # ---- /reset-password -----------------------------------------------------------------------

    async def reset(self, request: Request) -> Response:
        """GET only shows the form (the token is not even looked up, so opening the link spends nothing).

        The mailed link's token moves at once from the address bar into this browser's sealed cookie
        for this path (api/pages/links.py); the form posts without it.
        """
        if switched := self.pages.language_switch(request):
            return switched
        if moved := self.links.move_out_of_url(request, ("token",), self.rt.settings.reset_token_ttl):
            return moved
        visit = await self.pages.visit(request, with_session=False)
        stashed = self.links.read(request, RESET_PATH).get("token", "")[:TOKEN_MAX]
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
        if isinstance(outcome, Invalid):
            return self._reset_form(visit, errors=field_errors(outcome, visit.lang), status=400)
        if isinstance(outcome, TooMany):
            return self._reset_form(visit, **too_many_answer(outcome, visit.lang))
        return self._bad_link(visit, status=400)

    def _reset_form(
        self,
        visit: Visit,
        *,
        problem: str | None = None,
        errors: dict[str, str] | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Response:
        return self.pages.render(
            visit,
            "reset.html",
            {
                "problem": problem,
                "errors": errors or {},
                "min_length": self.rt.settings.password_min_length,
                "max_length": self.rt.settings.password_max_length,
            },
            status=status,
            referrer_policy=NO_REFERRER,
            headers=headers,
        )

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
