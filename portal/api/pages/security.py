"""/account's security pages (issue 16): re-authentication, password, e-mail address and its mailed links.

The same service functions as GraphQL (identity.proofs, password_change, email_address). The signed-in
account and its session come from `Pages.visit`, like every /account page. A sensitive page without a
proof of the last 10 minutes (identity.reauth) sends the resident to /account/reauth and back.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import segno
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from portal.api.pages.web import TOKEN_MAX, PageGroup, Visit, refusal_answer, safe_next, too_many_answer
from portal.core.errors import TooMany
from portal.identity import email_address, passkeys, password_change, proofs, totp
from portal.identity.reauth import is_recent
from portal.identity.signin import BadCredentials

NO_REFERRER = "no-referrer"  # the link pages hold a token
LINK_COOKIE_MAX_AGE = 3600  # a mailed link's token waits this long in its sealed cookie for the button
PASSWORD_MAX = 5000


def problem_answer(outcome: object, visit: Visit) -> dict[str, Any]:
    """A refused form's re-render (message, field errors, status), for any outcome of these services."""
    if answer := refusal_answer(outcome, visit.lang):
        return answer
    if isinstance(outcome, BadCredentials):
        return {"errors": {"currentPassword": visit.t("security.wrong_password")}, "status": 401}
    return {"problem": visit.t("form.expired"), "status": 403}


PageContext = Callable[[Visit], Awaitable[dict[str, Any]]]


class SecurityPages(PageGroup):
    async def _sensitive(
        self, request: Request, template: str, context_of: PageContext
    ) -> tuple[Visit, dict[str, Any]] | Response:
        """A sensitive /account form: signed in and, when it has no password field to prove with, a proof of
        the last 10 minutes (identity.reauth) before the form is even shown.

        Answers `?lang=xx`, the way to sign in or to re-authenticate, the form itself (GET) or a post without
        its CSRF token; a post that may go on comes back as its visit and the form's context."""
        visit = await self.pages.signed_in_page(request)
        if isinstance(visit, Response):
            return visit
        assert visit.session is not None and visit.account is not None
        if visit.account.password_hash is None and not is_recent(self.rt, visit.session):
            return self._reauth_first(visit)
        context = await context_of(visit)
        if request.method == "GET":
            return self.pages.form(visit, template, context)
        if not await self.pages.read_form(visit):
            return self.pages.form(visit, template, context, problem=visit.t("form.expired"), status=403)
        return visit, context

    def _refused(self, visit: Visit, template: str, context: dict[str, Any], outcome: object) -> Response:
        if isinstance(outcome, proofs.ReauthNeeded):
            return self._reauth_first(visit)
        return self.pages.form(visit, template, context, **problem_answer(outcome, visit))

    def _reauth_first(self, visit: Visit) -> Response:
        here = visit.request.url.path
        return self.pages.redirect(visit, "/account/reauth?" + urlencode({"next": here}))

    # ---- /account/reauth -----------------------------------------------------------------------

    async def reauth(self, request: Request) -> Response:
        """Asks for the password (or a second-factor code) again, then goes back to `next` (an /account page)."""
        visit = await self.pages.signed_in_page(request)
        if isinstance(visit, Response):
            return visit
        assert visit.session is not None and visit.account is not None
        csrf_ok = request.method == "GET" or await self.pages.read_form(visit)
        raw_next = request.query_params.get("next") if request.method == "GET" else visit.value("next")
        target = safe_next(raw_next, self.rt.settings.public_url)
        context = {
            "next": target,
            "totp": await totp.is_enabled(visit.account.id),
        }
        if request.method == "GET":
            return self.pages.form(visit, "reauth.html", context)
        if not csrf_ok:
            return self.pages.form(visit, "reauth.html", context, problem=visit.t("form.expired"), status=403)
        code = visit.value("code", 100)
        outcome = await totp.prove_again(self.rt, visit.session, visit.value("password", PASSWORD_MAX), code,
                                         visit.client)
        if isinstance(outcome, proofs.Proved):
            return self.pages.redirect(visit, target)
        if isinstance(outcome, BadCredentials):
            field, message = ("code", "login.code_wrong") if code else ("password", "security.wrong_password")
            return self.pages.form(visit, "reauth.html", context, errors={field: visit.t(message)}, status=401)
        return self.pages.form(visit, "reauth.html", context, **problem_answer(outcome, visit))

    # ---- /account/password ---------------------------------------------------------------------

    async def password(self, request: Request) -> Response:
        posted = await self._sensitive(request, "password.html", self._password_context)
        if isinstance(posted, Response):
            return posted
        visit, context = posted
        assert visit.session is not None
        outcome = await password_change.change_password(
            self.rt, visit.session, visit.value("currentPassword", PASSWORD_MAX),
            visit.value("newPassword", PASSWORD_MAX), visit.value("newPasswordConfirmation", PASSWORD_MAX),
            visit.client,
        )
        if isinstance(outcome, password_change.PasswordChanged):
            return self.pages.redirect(visit, "/account?notice=password-changed")
        return self._refused(visit, "password.html", context, outcome)

    async def _password_context(self, visit: Visit) -> dict[str, Any]:
        assert visit.account is not None
        return {"has_password": visit.account.password_hash is not None,
                "min_length": self.rt.settings.password_min_length,
                "max_length": self.rt.settings.password_max_length}

    # ---- /account/email ------------------------------------------------------------------------

    async def email(self, request: Request) -> Response:
        posted = await self._sensitive(request, "email.html", self._email_context)
        if isinstance(posted, Response):
            return posted
        visit, context = posted
        assert visit.session is not None
        new_email = visit.value("newEmail", 400)
        context["form"] = {"newEmail": new_email}
        outcome = await email_address.request_email_change(
            self.rt, visit.session, new_email, visit.value("currentPassword", PASSWORD_MAX), visit.client
        )
        if isinstance(outcome, email_address.ChangeRequested):
            return self.pages.redirect(visit, "/account?notice=email-change-sent")
        return self._refused(visit, "email.html", context, outcome)

    async def _email_context(self, visit: Visit) -> dict[str, Any]:
        assert visit.account is not None
        return {"has_password": visit.account.password_hash is not None,
                "pending": await email_address.pending_change(self.rt, visit.account.id)}

    # ---- the mailed links: /confirm-email and /cancel-email-change -----------------------------

    async def confirm_email(self, request: Request) -> Response:
        return await self._link(request, "confirm")

    async def cancel_email_change(self, request: Request) -> Response:
        return await self._link(request, "cancel")

    async def _link(self, request: Request, kind: str) -> Response:
        """GET only shows a button (mail scanners that open links spend nothing); POST spends the token."""
        opened = await self.link_visit(request, LINK_COOKIE_MAX_AGE, with_session=False)
        if isinstance(opened, Response):
            return opened
        visit, stashed = opened
        path = request.url.path
        if request.method == "GET":
            token = stashed
            if request.query_params.get("done") == "1":
                return self._message(visit, f"security.{kind}_done")
            if not token:
                return self._message(visit, "security.bad_link", status=400)
            return self.pages.render(
                visit, "email_link.html", {"token": token, "kind": kind, "problem": None},
                referrer_policy=NO_REFERRER,
            )
        csrf_ok = await self.pages.read_form(visit)
        token = stashed or visit.value("token", TOKEN_MAX)
        if not csrf_ok:
            return self.pages.render(
                visit, "email_link.html", {"token": token, "kind": kind, "problem": visit.t("form.expired")},
                status=403, referrer_policy=NO_REFERRER,
            )
        if kind == "confirm":
            outcome: object = await email_address.confirm_email(self.rt, token, visit.client)
        else:
            outcome = await email_address.cancel_email_change(self.rt, token, visit.client)
        if isinstance(outcome, email_address.EmailConfirmed | email_address.ChangeCancelled):
            done = self.pages.redirect(visit, f"{path}?done=1")
            self.links.forget(done, path)
            return done
        if isinstance(outcome, TooMany):
            answer = too_many_answer(outcome, visit.lang)
            return self._message(visit, "security.bad_link", status=429, text=answer["problem"])
        return self._message(visit, "security.bad_link", status=400)

    def _message(self, visit: Visit, key: str, *, status: int = 200, text: str | None = None) -> Response:
        return self.pages.render(
            visit,
            "message.html",
            {
                "title": visit.t(f"{key}_title"),
                "message": text or visit.t(key),
                "link": "/account",
                "link_text": visit.t("account.back"),
            },
            status=status,
            referrer_policy=NO_REFERRER,
        )


def qr_svg(uri: str, title: str) -> Markup:
    """The otpauth:// URI as an inline SVG QR code, drawn here (no script, no image service sees the secret)."""
    svg = segno.make(uri, error="m").svg_inline(scale=5, title=title, dark="#000", light="#fff")
    label = str(escape(title))  # a plain str: Markup + str would escape the tag itself
    return Markup(svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1))  # noqa: S704


class TwoFactorPages(PageGroup):
    """/account/two-factor: turn TOTP on (QR code, secret, first code), recovery codes, turn it off."""

    async def _visit(self, request: Request, *, post: bool) -> Visit | Response:
        visit = await self.pages.signed_in(request, back="/account/two-factor")
        if isinstance(visit, Response):
            return visit
        assert visit.session is not None
        if post and not await self.pages.read_form(visit):
            return self.pages.redirect(visit, "/account/two-factor?problem=EXPIRED")
        if not is_recent(self.rt, visit.session):
            return self.pages.redirect(visit, "/account/reauth?" + urlencode({"next": "/account/two-factor"}))
        return visit

    async def show(self, request: Request) -> Response:
        if switched := self.pages.language_switch(request):
            return switched
        visit = await self._visit(request, post=False)
        if isinstance(visit, Response):
            return visit
        assert visit.account is not None
        problem = "form.expired" if request.query_params.get("problem") == "EXPIRED" else None
        return self.pages.render(visit, "two_factor.html", {
            "enabled": await totp.is_enabled(visit.account.id),
            "codes_left": await totp.recovery_codes_left(visit.account.id),
            "problem": visit.t(problem) if problem else None,
        })

    def _setup(self, visit: Visit, started: totp.EnrollmentStarted, **answer: Any) -> Response:
        context = {"secret": started.secret, "qr": qr_svg(started.otpauth_uri, visit.t("totp.qr_label"))}
        return self.pages.form(visit, "totp_setup.html", context, referrer_policy=NO_REFERRER, **answer)

    async def start(self, request: Request) -> Response:
        visit = await self._visit(request, post=True)
        if isinstance(visit, Response):
            return visit
        assert visit.session is not None
        started = await totp.start_enrollment(self.rt, visit.session)
        assert isinstance(started, totp.EnrollmentStarted)  # the proof was checked above
        return self._setup(visit, started)

    async def confirm(self, request: Request) -> Response:
        visit = await self._visit(request, post=True)
        if isinstance(visit, Response):
            return visit
        assert visit.session is not None and visit.account is not None
        outcome = await totp.confirm_enrollment(self.rt, visit.session, visit.value("code", 100), visit.client)
        if isinstance(outcome, totp.RecoveryCodes):
            return self._codes(visit, outcome, "totp.enabled_notice")
        pending = await totp.pending_enrollment(self.rt, visit.account)
        if pending is None:
            return self.pages.redirect(visit, "/account/two-factor")
        return self._setup(visit, pending, **problem_answer(outcome, visit))

    async def regenerate(self, request: Request) -> Response:
        visit = await self._visit(request, post=True)
        if isinstance(visit, Response):
            return visit
        assert visit.session is not None
        outcome = await totp.regenerate_recovery_codes(self.rt, visit.session, visit.client)
        if isinstance(outcome, totp.RecoveryCodes):
            return self._codes(visit, outcome, "totp.codes_notice")
        return self.pages.redirect(visit, "/account/two-factor")

    async def disable(self, request: Request) -> Response:
        visit = await self._visit(request, post=True)
        if isinstance(visit, Response):
            return visit
        assert visit.session is not None
        await totp.disable(self.rt, visit.session, visit.client)
        return self.pages.redirect(visit, "/account?notice=totp-off")

    def _codes(self, visit: Visit, outcome: totp.RecoveryCodes, notice: str) -> Response:
        """The recovery codes, shown once (no-store, like every page)."""
        return self.pages.render(
            visit, "recovery_codes.html", {"codes": outcome.codes, "notice": visit.t(notice)},
            referrer_policy=NO_REFERRER,
        )


PASSKEY_COOKIE_PATH = "/login"


def passkey_cookie_name(secure: bool) -> str:
    """The sign-in ceremony's handle: HttpOnly, only under /login (so not `__Host-`), 5 minutes."""
    return "__Secure-portal_passkey" if secure else "portal_passkey"


class PasskeyPages(PageGroup):
    """/account/passkeys (add, rename, remove) and the passkey sign-in of /login; the script is portal.js."""

    def _json(self, visit: Visit, body: dict[str, Any], status: int = 200) -> Response:
        response = JSONResponse(body, status_code=status)
        self.pages.finish(visit, response)
        return response

    async def _signed_in_post(self, request: Request) -> Visit | Response:
        visit = await self.pages.signed_in(request, back="/account/passkeys")
        if isinstance(visit, Response):
            return visit
        if not await self.pages.read_form(visit):
            return self.pages.redirect(visit, "/account/passkeys?problem=EXPIRED")
        return visit

    def _reauth(self, visit: Visit) -> Response:
        return self.pages.redirect(visit, "/account/reauth?" + urlencode({"next": "/account/passkeys"}))

    async def show(self, request: Request) -> Response:
        visit = await self.pages.signed_in_page(request)
        if isinstance(visit, Response):
            return visit
        assert visit.account is not None
        notice = {"added": "notice.passkey_added", "removed": "PasskeyRemoved", "renamed": "notice.passkey_renamed"}
        problem = {"EXPIRED": "form.expired", "REFUSED": "PASSKEY_REFUSED"}
        notice_key = notice.get(request.query_params.get("notice", ""))
        problem_key = problem.get(request.query_params.get("problem", ""))
        return self.pages.render(visit, "passkeys.html", {
            "passkeys": await passkeys.list_passkeys(visit.account.id),
            "notice": visit.t(notice_key) if notice_key else None,
            "problem": visit.t(problem_key) if problem_key else None,
        })

    async def options(self, request: Request) -> Response:
        """POST (CSRF-checked): creation options as WebAuthn JSON; 409 with where to re-authenticate."""
        visit = await self.pages.visit(request)
        if visit.session is None or not await self.pages.read_form(visit):
            return self._json(visit, {"error": "expired"}, status=403)
        outcome = await passkeys.start_registration(self.rt, visit.session)
        if isinstance(outcome, proofs.ReauthNeeded):
            return self._json(visit, {"reauth": "/account/reauth?next=%2Faccount%2Fpasskeys"}, status=409)
        return self._json(visit, {"options": json.loads(outcome.options_json), "handle": outcome.handle})

    async def add(self, request: Request) -> Response:
        visit = await self._signed_in_post(request)
        if isinstance(visit, Response):
            return visit
        assert visit.session is not None
        outcome = await passkeys.finish_registration(
            self.rt, visit.session, visit.value("handle", 200), visit.value("response", passkeys.RESPONSE_MAX),
            visit.value("name", 200) or visit.t("passkey.default_name"), visit.client,
        )
        if isinstance(outcome, proofs.ReauthNeeded):
            return self._reauth(visit)
        if isinstance(outcome, passkeys.PasskeyAdded):
            return self.pages.redirect(visit, "/account/passkeys?notice=added")
        return self.pages.redirect(visit, "/account/passkeys?problem=REFUSED")

    async def rename(self, request: Request) -> Response:
        visit = await self._signed_in_post(request)
        if isinstance(visit, Response):
            return visit
        assert visit.session is not None
        await passkeys.rename_passkey(self.rt, visit.session, visit.value("id", 64), visit.value("name", 200))
        return self.pages.redirect(visit, "/account/passkeys?notice=renamed")

    async def remove(self, request: Request) -> Response:
        visit = await self._signed_in_post(request)
        if isinstance(visit, Response):
            return visit
        assert visit.session is not None
        outcome = await passkeys.remove_passkey(self.rt, visit.session, visit.value("id", 64), visit.client)
        if isinstance(outcome, proofs.ReauthNeeded):
            return self._reauth(visit)
        return self.pages.redirect(visit, "/account/passkeys?notice=removed")

    # ---- /login with a passkey -----------------------------------------------------------------

    async def sign_in_options(self, request: Request) -> Response:
        """POST (CSRF-checked): request options; the ceremony's handle goes into an HttpOnly cookie."""
        visit = await self.pages.visit(request, with_session=False)
        if not await self.pages.read_form(visit):
            return self._json(visit, {"error": "expired"}, status=403)
        started = await passkeys.start_authentication(self.rt)
        response = self._json(visit, {"options": json.loads(started.options_json)})
        secure = self.rt.settings.secure_cookies
        response.set_cookie(passkey_cookie_name(secure), started.handle, max_age=passkeys.CHALLENGE_TTL,
                            path=PASSKEY_COOKIE_PATH, secure=secure, httponly=True, samesite="strict")
        return response
