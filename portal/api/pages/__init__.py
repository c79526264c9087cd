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
    # By method: a page, a page with its form, a form's (or a script's) endpoint. Every path stands once,
    # and no two patterns match one URL, so the order does not matter.
    get_and_post = {
        "/login": signin.login,
        "/account/reauth": security.reauth,
        "/account/password": security.password,
        "/account/email": security.email,
        "/confirm-email": security.confirm_email,
        "/cancel-email-change": security.cancel_email_change,
        "/forgot-password": reset.forgot,
        "/reset-password": reset.reset,
        "/support": support.form,
        "/activate": activation.activate,
    }
    get_only = {
        "/account": account.show,
        "/account/two-factor": two_factor.show,
        "/account/passkeys": passkey.show,
        "/support/status": support.status,
        "/desk": desk.queue,
        "/desk/accounts": desk.account_lookup,
        "/desk/tickets/{number}": desk.ticket,
        "/desk/approvals": desk_accounts.approvals,
        "/desk/accounts/{account_id}": desk_accounts.show,
    }
    post_only = {
        "/login/federated": providers.start,
        "/login/second-factor": signin.second_factor,
        "/login/passkey/options": passkey.sign_in_options,
        "/login/passkey": signin.passkey,
        "/session/logout": signin.logout,
        "/account/sessions/end-others": account.end_other_sessions,
        "/account/identities/unlink": providers.unlink,
        "/account/two-factor/start": two_factor.start,
        "/account/two-factor/confirm": two_factor.confirm,
        "/account/two-factor/recovery-codes": two_factor.regenerate,
        "/account/two-factor/disable": two_factor.disable,
        "/account/passkeys/options": passkey.options,
        "/account/passkeys/add": passkey.add,
        "/account/passkeys/rename": passkey.rename,
        "/account/passkeys/remove": passkey.remove,
        "/desk/tickets/{number}/{action}": desk.ticket_action,
        "/desk/approvals/{request_id}/{decision:str}": desk_accounts.decide,
        "/desk/accounts/{account_id}/{action}": desk_accounts.action,
    }
    return [
        *(Route(path, handler, methods=["GET", "POST"]) for path, handler in get_and_post.items()),
        *(Route(path, handler, methods=["GET"]) for path, handler in get_only.items()),
        *(Route(path, handler, methods=["POST"]) for path, handler in post_only.items()),
        Mount("/static", app=StaticFiles(packages=[("portal.api", "static")]), name="static"),
    ]
