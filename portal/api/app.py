"""The ASGI application: routes, middleware and the process lifespan."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from portal.api import db
from portal.api.background import in_process_delivery, session_change_feed
from portal.api.federation import FederationCallback
from portal.api.graphql import GraphQLEndpoint
from portal.api.logs import AccessLog
from portal.api.observability import RequestObservability, metrics_server
from portal.api.pages import page_routes
from portal.api.provider_routes import provider_routes
from portal.api.security import security_middleware
from portal.core.clock import Clock
from portal.core.runtime import Runtime
from portal.core.settings import Settings, load_settings
from portal.schema import build_runner

log = logging.getLogger("portal")


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    manage_database: bool = True,
    runtime: Runtime | None = None,
) -> Starlette:
    """Builds the app. Tests that own the database connection pass `manage_database=False`."""
    rt = runtime or Runtime(settings or load_settings(), clock or Clock())

    async def healthz(_: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> JSONResponse:
        ok = await db.ping()
        if ok:
            return JSONResponse({"database": "ok"})
        retry = {"Retry-After": str(rt.settings.unavailable_retry_after)}
        return JSONResponse({"database": "unavailable"}, status_code=503, headers=retry)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if manage_database:
            await db.connect(rt.settings)
        try:
            # The mail delivery loop (unless a `portal worker` runs it), /metrics on its own port, and on
            # PostgreSQL the feed that lets the session cache serve.
            async with in_process_delivery(rt), metrics_server(rt), session_change_feed(rt):
                yield
        finally:
            if manage_database:
                await db.disconnect()

    graphql = GraphQLEndpoint(rt, build_runner(production=rt.settings.production))
    routes = [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", readyz, methods=["GET", "HEAD"]),
        Route("/graphql", graphql.handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        Route("/auth/federated/{provider}/callback", FederationCallback(rt).handle, methods=["GET"]),
        *page_routes(rt),  # the residents' web pages (api/pages)
        *provider_routes(rt),  # the OpenID Provider for partner systems (identity/provider)
    ]
    # The access line: RequestObservability writes it in JSON mode (route, no query); in text mode our own
    # redacted one (api/logs.py), since `portal serve` turns uvicorn's off (it prints query strings).
    text_access = [Middleware(AccessLog)] if rt.settings.log_format != "json" else []
    middleware = [
        Middleware(RequestObservability, settings=rt.settings),
        *text_access,
        *security_middleware(rt.settings),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.runtime = rt
    app.state.graphql = graphql
    return app
