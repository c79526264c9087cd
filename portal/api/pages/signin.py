"""/login and /session/logout: the browser's way in and out, over identity.signin and sessions."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from portal.api.http import clear_session_cookie, set_session_cookie
from portal.api.pages.providers import problem_from_query, provider_buttons
from portal.api.pages.security import PASSKEY_COOKIE_PATH, passkey_cookie_name
from portal.api.pages.web import PageGroup, Visit, refusal_answer, safe_next, too_many_answer
from portal.core.errors import TooMany
from portal.identity import passkeys, sessions, signin
from portal.identity.browsers import COOKIE_MAX_AGE, note_browser
from portal.identity.challenge import SecondFactorNeeded
from portal.identity.provider.flow import AUTHORIZE_PATH, resume_path
from portal.identity.second_factor import verify_second_factor
from portal.identity.sessions import IssuedSession

# Notices a page may show after a redirect: the query names a key, never text.
LOGIN_NOTICES = {"signed-out": "notice.signed_out", "session-ended": "notice.session_ended", "reauth": "notice.reauth"}


class SignInPages(PageGroup):
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
            return await self.signed_in(visit, outcome, target)
        if isinstance(outcome, SecondFactorNeeded):
            return self._code_form(visit, target, outcome.challenge, outcome.methods)
        if answer := refusal_answer(outcome, visit.lang):
            return self._form(visit, target, identifier, **answer)
        return self._form(visit, target, identifier, problem=visit.t("InvalidCredentials"), status=401)

    async def signed_in(self, visit: Visit, issued: IssuedSession, target: str) -> Response:
        """A sign-in finished (password, second factor or passkey): this browser gets the session, goes on."""
        if visit.session is not None:  # signing in again in this browser: the old session ends
            await sessions.revoke_sessions(self.rt, session_ids=[visit.session.id])
        cookie = await sessions.open_browser_session(self.rt, issued.session)
        if target.startswith(AUTHORIZE_PATH + "?"):  # back to the partner's request, proved for it
            target = resume_path(self.rt, target, issued.session.id)
        response = self.pages.redirect(visit, target)
        set_session_cookie(response, self.rt.settings, cookie, issued.session, self.rt.clock.now())
        # A browser this account has not signed in from before: the account's address gets a letter.
        secure = self.rt.settings.secure_cookies
        name = browser_cookie_name(secure)
        known = await note_browser(self.rt, issued.account, visit.request.cookies.get(name), visit.client)
        response.set_cookie(name, known, max_age=COOKIE_MAX_AGE, path="/", secure=secure, httponly=True,
                            samesite="lax")
        return response

    async def second_factor(self, request: Request) -> Response:
        """POST /login/second-factor: the challenge from the password step and a TOTP or recovery code."""
        visit = await self.pages.visit(request)
        csrf_ok = await self.pages.read_form(visit)
        target = safe_next(visit.value("next"), self.rt.settings.public_url)
        challenge = visit.value("challenge", 200)
        methods = tuple(m for m in visit.value("methods", 100).split(",") if m)
        if not csrf_ok:
            return self._code_form(visit, target, challenge, methods, problem=visit.t("form.expired"), status=403)
        outcome = await verify_second_factor(self.rt, challenge, visit.value("code", 100), visit.client)
        if isinstance(outcome, IssuedSession):
            return await self.signed_in(visit, outcome, target)
        if answer := refusal_answer(outcome, visit.lang):
            return self._code_form(visit, target, challenge, methods, **answer)
        return self._code_form(
            visit, target, challenge, methods, errors={"code": visit.t("login.code_wrong")}, status=401
        )

    async def passkey(self, request: Request) -> Response:
        """POST /login/passkey: the browser's answer to the options of /login/passkey/options (its cookie)."""
        visit = await self.pages.visit(request)
        csrf_ok = await self.pages.read_form(visit)
        target = safe_next(visit.value("next"), self.rt.settings.public_url)
        if not csrf_ok:
            return self._form(visit, target, problem=visit.t("form.expired"), status=403)
        cookie = passkey_cookie_name(self.rt.settings.secure_cookies)
        outcome = await passkeys.finish_authentication(
            self.rt, request.cookies.get(cookie, ""), visit.value("response", passkeys.RESPONSE_MAX), visit.client
        )
        if isinstance(outcome, IssuedSession):
            response = await self.signed_in(visit, outcome, target)
        elif isinstance(outcome, TooMany):
            response = self._form(visit, target, **too_many_answer(outcome, visit.lang))
        else:
            response = self._form(visit, target, problem=visit.t("login.passkey_failed"), status=401)
        response.delete_cookie(cookie, path=PASSKEY_COOKIE_PATH, secure=self.rt.settings.secure_cookies,
                               httponly=True, samesite="strict")
        return response

    def _code_form(
        self, visit: Visit, target: str, challenge: str, methods: tuple[str, ...], **answer: Any
    ) -> Response:
        """The second step of /login: the code from the app or a recovery code."""
        context = {"next": target, "challenge": challenge, "methods": ",".join(methods)}
        return self.pages.form(visit, "login_code.html", context, **answer)

    def _form(
        self, visit: Visit, target: str, identifier: str = "", *, notice: str | None = None, **answer: Any
    ) -> Response:
        context = {"next": target, "form": {"identifier": identifier}, "notice": notice,
                   "providers": provider_buttons(self.rt)}
        return self.pages.form(visit, "login.html", context, **answer)

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


def browser_cookie_name(secure: bool) -> str:
    """The browser's random id (identity.browsers): `__Host-` outside plain-http loopback development."""
    return "__Host-portal_browser" if secure else "portal_browser"


def _expired(visit: Visit) -> dict[str, object]:
    return {
        "title": visit.t("form.expired_title"),
        "message": visit.t("form.expired"),
        "link": "/account",
        "link_text": visit.t("account.back"),
    }
