"""The residents' web pages: server-rendered forms over the same service functions as GraphQL.

Every form is a real `<form method="post">` that works without JavaScript and carries a CSRF token;
templates live in `api/templates/`, styles and the optional script in `api/static/`.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from api.pages.account import AccountPages
from api.pages.signin import SignInPages
from api.pages.web import Pages
from api.runtime import Runtime


def page_routes(rt: Runtime) -> list[BaseRoute]:
    pages = Pages(rt)
    signin = SignInPages(pages)
    account = AccountPages(pages)
    return [
        Route("/login", signin.login, methods=["GET", "POST"]),
        Route("/session/refresh", signin.refresh, methods=["GET"]),
        Route("/session/logout", signin.logout, methods=["POST"]),
        Route("/account", account.show, methods=["GET"]),
        Route("/account/sessions/end-others", account.end_other_sessions, methods=["POST"]),
        Mount("/static", app=StaticFiles(packages=[("api", "static")]), name="static"),
    ]
