"""The residents' web pages: server-rendered forms over the same service functions as GraphQL.

Every form is a real `<form method="post">` that works without JavaScript and carries a CSRF token;
templates live in `api/templates/`, styles and the optional script in `api/static/`.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from portal.api.pages.account import AccountPages
from portal.api.pages.activation import ActivationPages
from portal.api.pages.desk import DeskPages
from portal.api.pages.desk_accounts import DeskAccountPages
from portal.api.pages.providers import ProviderPages
from portal.api.pages.reset import ResetPages
from portal.api.pages.security import PasskeyPages, SecurityPages, TwoFactorPages
from portal.api.pages.signin import SignInPages
from portal.api.pages.support import SupportPages
from portal.api.pages.web import Pages
from portal.core.runtime import Runtime


def page_routes(rt: Runtime) -> list[BaseRoute]:
    pages = Pages(rt)
    signin = SignInPages(pages)
    account = AccountPages(pages)
    reset = ResetPages(pages)
    support = SupportPages(pages)
    providers = ProviderPages(pages)
    desk = DeskPages(pages)
    desk_accounts = DeskAccountPages(desk)
    security = SecurityPages(pages)
    two_factor = TwoFactorPages(pages)
    passkey = PasskeyPages(pages)
    activation = ActivationPages(pages)
    return [
        Route("/login", signin.login, methods=["GET", "POST"]),
        Route("/login/federated", providers.start, methods=["POST"]),
        Route("/login/second-factor", signin.second_factor, methods=["POST"]),
        Route("/login/passkey/options", passkey.sign_in_options, methods=["POST"]),
        Route("/login/passkey", signin.passkey, methods=["POST"]),
        Route("/session/logout", signin.logout, methods=["POST"]),
        Route("/account", account.show, methods=["GET"]),
        Route("/account/sessions/end-others", account.end_other_sessions, methods=["POST"]),
        Route("/account/identities/unlink", providers.unlink, methods=["POST"]),
        Route("/account/reauth", security.reauth, methods=["GET", "POST"]),
        Route("/account/password", security.password, methods=["GET", "POST"]),
        Route("/account/email", security.email, methods=["GET", "POST"]),
        Route("/account/two-factor", two_factor.show, methods=["GET"]),
        Route("/account/two-factor/start", two_factor.start, methods=["POST"]),
        Route("/account/two-factor/confirm", two_factor.confirm, methods=["POST"]),
        Route("/account/two-factor/recovery-codes", two_factor.regenerate, methods=["POST"]),
        Route("/account/two-factor/disable", two_factor.disable, methods=["POST"]),
        Route("/account/passkeys", passkey.show, methods=["GET"]),
        Route("/account/passkeys/options", passkey.options, methods=["POST"]),
        Route("/account/passkeys/add", passkey.add, methods=["POST"]),
        Route("/account/passkeys/rename", passkey.rename, methods=["POST"]),
        Route("/account/passkeys/remove", passkey.remove, methods=["POST"]),
        Route("/confirm-email", security.confirm_email, methods=["GET", "POST"]),
        Route("/cancel-email-change", security.cancel_email_change, methods=["GET", "POST"]),
        Route("/forgot-password", reset.forgot, methods=["GET", "POST"]),
        Route("/reset-password", reset.reset, methods=["GET", "POST"]),
        Route("/support", support.form, methods=["GET", "POST"]),
        Route("/support/status", support.status, methods=["GET"]),
        Route("/desk", desk.queue, methods=["GET"]),
        Route("/desk/accounts", desk.account_lookup, methods=["GET"]),
        Route("/desk/tickets/{number}", desk.ticket, methods=["GET"]),
        Route("/desk/tickets/{number}/{action}", desk.ticket_action, methods=["POST"]),
        Route("/desk/approvals", desk_accounts.approvals, methods=["GET"]),
        Route("/desk/approvals/{request_id}/{decision:str}", desk_accounts.decide, methods=["POST"]),
        Route("/desk/accounts/{account_id}", desk_accounts.show, methods=["GET"]),
        Route("/desk/accounts/{account_id}/{action}", desk_accounts.action, methods=["POST"]),
        Route("/activate", activation.activate, methods=["GET", "POST"]),
        Mount("/static", app=StaticFiles(packages=[("portal.api", "static")]), name="static"),
    ]
