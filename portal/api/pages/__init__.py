"""The residents' web pages: server-rendered forms over the same service functions as GraphQL.

Every form is a real `<form method="post">` that works without JavaScript and carries a CSRF token;
templates live in `api/templates/`, styles and the optional script in `api/static/`.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from portal.api.pages.account import AccountPages
from portal.api.pages.providers import ProviderPages
from portal.api.pages.reset import ResetPages
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
    return [
        Route("/login", signin.login, methods=["GET", "POST"]),
        Route("/login/federated", providers.start, methods=["POST"]),
        Route("/session/logout", signin.logout, methods=["POST"]),
        Route("/account", account.show, methods=["GET"]),
        Route("/account/sessions/end-others", account.end_other_sessions, methods=["POST"]),
        Route("/account/identities/unlink", providers.unlink, methods=["POST"]),
        Route("/forgot-password", reset.forgot, methods=["GET", "POST"]),
        Route("/reset-password", reset.reset, methods=["GET", "POST"]),
        Route("/support", support.form, methods=["GET", "POST"]),
        Route("/support/status", support.status, methods=["GET"]),
        Mount("/static", app=StaticFiles(packages=[("portal.api", "static")]), name="static"),
    ]
