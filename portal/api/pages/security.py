"""/account's security pages (issue 16): re-authentication, password, e-mail address and its mailed links.

The same service functions as GraphQL (identity.proofs, password_change, email_address). The signed-in
account and its session come from `Pages.visit`, like every /account page. A sensitive page without a
proof of the last 10 minutes (identity.reauth) sends the resident to /account/reauth and back.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from portal.api.pages.web import Pages, Visit, field_errors, safe_next, too_many_answer
from portal.core.errors import FieldProblem, Invalid, TooMany
from portal.identity import email_address, password_change, proofs
from portal.identity.reauth import is_recent
from portal.identity.signin import BadCredentials

NO_REFERRER = "no-referrer"  # the link pages carry their token in the URL
TOKEN_MAX = 200
PASSWORD_MAX = 5000


def problem_answer(outcome: object, visit: Visit) -> dict[str, Any]:
    """A refused form's re-render (message, field errors, status), for any outcome of these services."""
    if isinstance(outcome, TooMany):
        return too_many_answer(outcome, visit.lang)
    if isinstance(outcome, Invalid):
        return {"errors": field_errors(outcome, visit.lang), "status": 400}
    if isinstance(outcome, BadCredentials):
        return {"errors": {"currentPassword": visit.t("security.wrong_password")}, "status": 401}
    return {"problem": visit.t("form.expired"), "status": 403}


class SecurityPages:
    def __init__(self, pages: Pages) -> None:
        self.pages = pages
        self.rt = pages.rt

    def _page(self, visit: Visit, template: str, context: dict[str, Any] | None = None, **answer: Any) -> Response:
        values: dict[str, Any] = {"problem": None, "errors": {}, "form": {}, **(context or {})}
        status = answer.pop("status", 200)
        headers = answer.pop("headers", None)
        values.update(answer)
        return self.pages.render(visit, template, values, status=status, headers=headers)

    def _reauth_first(self, visit: Visit) -> Response:
        here = visit.request.url.path
        return self.pages.redirect(visit, "/account/reauth?" + urlencode({"next": here}))

    # ---- /account/reauth -----------------------------------------------------------------------

    async def reauth(self, request: Request) -> Response:
        """Asks for the password again, then goes back to `next` (an /account page)."""
        if switched := self.pages.language_switch(request):
            return switched
        visit = await self.pages.visit(request)
        if visit.session is None or visit.account is None:
            return self.pages.sign_in_first(visit)
        if request.method == "GET":
            target = safe_next(request.query_params.get("next"), self.rt.settings.public_url)
            return self._page(visit, "reauth.html", {"next": target})
        csrf_ok = await self.pages.read_form(visit)
        target = safe_next(visit.value("next"), self.rt.settings.public_url)
        if not csrf_ok:
            return self._page(visit, "reauth.html", {"next": target}, problem=visit.t("form.expired"), status=403)
        password = visit.value("password", PASSWORD_MAX)
        if not password:
            invalid = Invalid.of(FieldProblem("password", "REQUIRED"))
            return self._page(visit, "reauth.html", {"next": target}, **problem_answer(invalid, visit))
        outcome = await proofs.prove(self.rt, visit.session, password, visit.client)
        if isinstance(outcome, proofs.Proved):
            return self.pages.redirect(visit, target)
        if isinstance(outcome, BadCredentials):
            return self._page(
                visit, "reauth.html", {"next": target}, errors={"password": visit.t("security.wrong_password")},
                status=401,
            )
        return self._page(visit, "reauth.html", {"next": target}, **problem_answer(outcome, visit))

    # ---- /account/password ---------------------------------------------------------------------

    async def password(self, request: Request) -> Response:
        if switched := self.pages.language_switch(request):
            return switched
        visit = await self.pages.visit(request)
        if visit.session is None or visit.account is None:
            return self.pages.sign_in_first(visit)
        has_password = visit.account.password_hash is not None
        # Without a password to type, the proof must be recent (identity.reauth) before the form is shown.
        if not has_password and not is_recent(self.rt, visit.session):
            return self._reauth_first(visit)
        context = {"has_password": has_password, "min_length": self.rt.settings.password_min_length,
                   "max_length": self.rt.settings.password_max_length}
        if request.method == "GET":
            return self._page(visit, "password.html", context)
        if not await self.pages.read_form(visit):
            return self._page(visit, "password.html", context, problem=visit.t("form.expired"), status=403)
        outcome = await password_change.change_password(
            self.rt, visit.session, visit.value("currentPassword", PASSWORD_MAX),
            visit.value("newPassword", PASSWORD_MAX), visit.value("newPasswordConfirmation", PASSWORD_MAX),
            visit.client,
        )
        if isinstance(outcome, password_change.PasswordChanged):
            return self.pages.redirect(visit, "/account?notice=password-changed")
        if isinstance(outcome, proofs.ReauthNeeded):
            return self._reauth_first(visit)
        return self._page(visit, "password.html", context, **problem_answer(outcome, visit))

    # ---- /account/email ------------------------------------------------------------------------

    async def email(self, request: Request) -> Response:
        if switched := self.pages.language_switch(request):
            return switched
        visit = await self.pages.visit(request)
        if visit.session is None or visit.account is None:
            return self.pages.sign_in_first(visit)
        has_password = visit.account.password_hash is not None
        if not has_password and not is_recent(self.rt, visit.session):
            return self._reauth_first(visit)
        pending = await email_address.pending_change(self.rt, visit.account.id)
        context: dict[str, Any] = {"has_password": has_password, "pending": pending}
        if request.method == "GET":
            return self._page(visit, "email.html", context)
        if not await self.pages.read_form(visit):
            return self._page(visit, "email.html", context, problem=visit.t("form.expired"), status=403)
        new_email = visit.value("newEmail", 400)
        context["form"] = {"newEmail": new_email}
        outcome = await email_address.request_email_change(
            self.rt, visit.session, new_email, visit.value("currentPassword", PASSWORD_MAX), visit.client
        )
        if isinstance(outcome, email_address.ChangeRequested):
            return self.pages.redirect(visit, "/account?notice=email-change-sent")
        if isinstance(outcome, proofs.ReauthNeeded):
            return self._reauth_first(visit)
        return self._page(visit, "email.html", context, **problem_answer(outcome, visit))

    # ---- the mailed links: /confirm-email and /cancel-email-change -----------------------------

    async def confirm_email(self, request: Request) -> Response:
        return await self._link(request, "confirm")

    async def cancel_email_change(self, request: Request) -> Response:
        return await self._link(request, "cancel")

    async def _link(self, request: Request, kind: str) -> Response:
        """GET only shows a button (mail scanners that open links spend nothing); POST spends the token."""
        if switched := self.pages.language_switch(request):
            return switched
        visit = await self.pages.visit(request, with_session=False)
        if request.method == "GET":
            token = request.query_params.get("token", "")[:TOKEN_MAX]
            if request.query_params.get("done") == "1":
                return self._message(visit, f"security.{kind}_done")
            if not token:
                return self._message(visit, "security.bad_link", status=400)
            return self.pages.render(
                visit, "email_link.html", {"token": token, "kind": kind, "problem": None},
                referrer_policy=NO_REFERRER,
            )
        csrf_ok = await self.pages.read_form(visit)
        token = visit.value("token", TOKEN_MAX)
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
            path = email_address.CONFIRM_PATH if kind == "confirm" else email_address.CANCEL_PATH
            return self.pages.redirect(visit, f"{path}?done=1")
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
