"""/login and /session/logout: the browser's way in and out, over identity.signin and sessions."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from portal.api.http import clear_session_cookie, set_session_cookie
from portal.api.pages.providers import problem_from_query, provider_buttons
from portal.api.pages.web import Pages, Visit, field_errors, safe_next, too_many_answer
from portal.core.errors import Invalid, TooMany
from portal.identity import sessions, signin
from portal.identity.provider.flow import AUTHORIZE_PATH, resume_path
from portal.identity.sessions import IssuedSession

# Notices a page may show after a redirect: the query names a key, never text.
LOGIN_NOTICES = {"signed-out": "notice.signed_out", "session-ended": "notice.session_ended", "reauth": "notice.reauth"}


class SignInPages:
    def __init__(self, pages: Pages) -> None:
        self.pages = pages
        self.rt = pages.rt

    async def login(self, request: Request) -> Response:
        if switched := self.pages.language_switch(request):
            return switched
        visit = await self.pages.visit(request)
        if request.method == "GET":
            target = safe_next(request.query_params.get("next"), self.rt.settings.public_url)
            again = request.query_params.get("reauth") == "1"
            if visit.session is not None and not again:
                return self.pages.redirect(visit, target)
            notice = LOGIN_NOTICES.get("reauth" if again else request.query_params.get("notice", ""))
            problem = problem_from_query(request)
            account = visit.account
            return self._form(
                visit,
                target,
                (account.email or account.login or account.phone or "") if again and account else "",
                notice=visit.t(notice) if notice else None,
                problem=visit.t(problem) if problem else None,
            )

        csrf_ok = await self.pages.read_form(visit)
        target = safe_next(visit.value("next"), self.rt.settings.public_url)
        identifier = visit.value("identifier", 400)
        if not csrf_ok:
            return self._form(visit, target, identifier, problem=visit.t("form.expired"), status=403)
        outcome = await signin.login(self.rt, identifier, visit.value("password", 5000), visit.client)
        if isinstance(outcome, IssuedSession):
            if visit.session is not None:  # signing in again in this browser: the old session ends
                await sessions.revoke_sessions(self.rt, session_ids=[visit.session.id])
            cookie = await sessions.open_browser_session(self.rt, outcome.session)
            if target.startswith(AUTHORIZE_PATH + "?"):  # back to the partner's request, proved for it
                target = resume_path(self.rt, target, outcome.session.id)
            response = self.pages.redirect(visit, target)
            set_session_cookie(response, self.rt.settings, cookie, outcome.session, self.rt.clock.now())
            return response
        if isinstance(outcome, TooMany):
            return self._form(visit, target, identifier, **too_many_answer(outcome, visit.lang))
        if isinstance(outcome, Invalid):
            errors = field_errors(outcome, visit.lang)
            return self._form(visit, target, identifier, errors=errors, status=400)
        return self._form(visit, target, identifier, problem=visit.t("InvalidCredentials"), status=401)

    def _form(
        self,
        visit: Visit,
        target: str,
        identifier: str = "",
        *,
        problem: str | None = None,
        errors: dict[str, str] | None = None,
        notice: str | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Response:
        return self.pages.render(
            visit,
            "login.html",
            {
                "next": target,
                "form": {"identifier": identifier},
                "problem": problem,
                "errors": errors or {},
                "notice": notice,
                "providers": provider_buttons(self.rt),
            },
            status=status,
            headers=headers,
        )

    async def logout(self, request: Request) -> Response:
        """Ends this browser's session on the server: the cookie is dead at once, wherever it was copied to."""
        visit = await self.pages.visit(request)
        if not await self.pages.read_form(visit):
            return self.pages.render(visit, "message.html", _expired(visit), status=403)
        if visit.session is not None:
            await sessions.revoke_sessions(self.rt, session_ids=[visit.session.id])
        response = self.pages.redirect(visit, "/login?notice=signed-out")
        clear_session_cookie(response, self.rt.settings)
        return response


def _expired(visit: Visit) -> dict[str, object]:
    return {
        "title": visit.t("form.expired_title"),
        "message": visit.t("form.expired"),
        "link": "/account",
        "link_text": visit.t("account.back"),
    }
