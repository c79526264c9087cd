"""HTTP routes of the OpenID Provider for partner systems: discovery, JWKS, authorize, token, and friends."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from portal.api.http import bearer_token, browser_session, clear_session_cookie, client_info, posted_from_own_page
from portal.core.i18n import install_gettext, t
from portal.core.runtime import Runtime
from portal.identity.provider.flow import (
    AUTHORIZE_PATH,
    ErrorPage,
    LoggedOut,
    NeedConsent,
    NeedLogin,
    NeedLogoutConfirmation,
    Provider,
    Redirect,
)
from portal.identity.provider.keys import published_keys
from portal.identity.provider.partners import origin_of
from portal.identity.provider.server import SCOPES, PlainRequest, Reply
from portal.models.accounts import Session

MAX_FORM_BYTES = 16 * 1024
CONSENT_FIELDS = {"request", "csrf", "decision"}  # what the consent page posts (templates/oidc_page.html)
PAGE_CSP = (
    "default-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'{}; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": PAGE_CSP.format(""),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
_env = Environment(loader=PackageLoader("portal.api", "templates"), autoescape=select_autoescape(["html"]))
install_gettext(_env)


def provider_routes(rt: Runtime) -> list[BaseRoute]:
    routes = ProviderRoutes(rt)
    return [
        Route("/.well-known/openid-configuration", routes.discovery, methods=["GET"]),
        Route("/oauth/jwks", routes.jwks, methods=["GET"]),
        Route(AUTHORIZE_PATH, routes.authorize, methods=["GET", "POST"]),
        Route("/oauth/token", routes.token, methods=["POST"]),
        Route("/oauth/revoke", routes.revoke, methods=["POST"]),
        Route("/oauth/introspect", routes.introspect, methods=["POST"]),
        Route("/oauth/userinfo", routes.userinfo, methods=["GET", "POST"]),
        Route("/oauth/logout", routes.logout, methods=["GET", "POST"]),
    ]


class ProviderRoutes:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.provider = Provider(rt)

    def metadata(self) -> dict[str, Any]:
        base = self.rt.settings.public_url
        return {
            "issuer": base,
            "authorization_endpoint": base + AUTHORIZE_PATH,
            "token_endpoint": base + "/oauth/token",
            "userinfo_endpoint": base + "/oauth/userinfo",
            "jwks_uri": base + "/oauth/jwks",
            "revocation_endpoint": base + "/oauth/revoke",
            "introspection_endpoint": base + "/oauth/introspect",
            "end_session_endpoint": base + "/oauth/logout",
            "scopes_supported": list(SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "amr",
                "at_hash",
                "name",
                "email",
                "email_verified",
                "phone_number",
                "phone_number_verified",
            ],
            "prompt_values_supported": ["none", "login", "consent"],
            "authorization_response_iss_parameter_supported": True,
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "claims_parameter_supported": False,
        }

    async def discovery(self, _: Request) -> JSONResponse:
        return JSONResponse(self.metadata(), headers={"Cache-Control": "public, max-age=300"})

    async def jwks(self, _: Request) -> JSONResponse:
        await self.provider.keys.load(self.rt)
        return JSONResponse({"keys": await published_keys(self.rt)}, headers={"Cache-Control": "public, max-age=300"})

    async def _session(self, request: Request) -> Session | None:
        return await browser_session(self.rt, request)

    async def authorize(self, request: Request) -> Response:
        session = await self._session(request)
        lang = client_info(request, self.rt.settings).locale
        args = list(request.query_params.multi_items())
        if request.method == "POST":
            form = await _form(request)
            if form is None:
                return self._page(lang, "error", 413, message=t("oidc.error.lead", lang), detail="form too large")
            if CONSENT_FIELDS <= set(form.keys()):  # our consent page's answer
                if not posted_from_own_page(request, self.rt.settings):
                    detail = "cross-origin form"
                    return self._page(lang, "error", 403, message=t("oidc.error.lead", lang), detail=detail)
                outcome = await self.provider.decide(
                    form.get("request", ""), form.get("csrf", ""), form.get("decision") == "allow", session
                )
                return self._answer(outcome, lang, status=303)
            args = list(form.multi_items())  # OIDC Core 3.1.2.1: an authorization request may be POSTed
        outcome = await self.provider.authorize(args, session)
        return self._answer(outcome, lang, status=303 if request.method == "POST" else 302)

    def _answer(self, outcome: Any, lang: str, status: int) -> Response:
        if isinstance(outcome, Redirect):
            return RedirectResponse(outcome.location, status_code=status, headers={"Cache-Control": "no-store"})
        if isinstance(outcome, NeedLogin):
            query = {"next": outcome.next_path, **({"reauth": "1"} if outcome.again else {})}
            return RedirectResponse("/login?" + urlencode(query), status_code=status)
        if isinstance(outcome, NeedConsent):
            page = self._page(
                lang,
                "consent",
                200,
                client_name=outcome.client_name,
                scopes=outcome.scopes,
                query=outcome.query,
                csrf=outcome.csrf,
            )
            # Browsers apply `form-action` to the redirect after the post too: the answer goes to the partner.
            partner = origin_of(dict(parse_qsl(outcome.query)).get("redirect_uri", ""))
            page.headers["Content-Security-Policy"] = PAGE_CSP.format(" " + partner)
            return page
        assert isinstance(outcome, ErrorPage)
        return self._page(
            lang, "error", 400, message=t("oidc.error.lead", lang), detail=f"{outcome.error}: {outcome.description}"
        )

    def _page(self, lang: str, kind: str, status: int, **context: Any) -> HTMLResponse:
        title = t(f"oidc.{kind}.title", lang)
        html = _env.get_template("oidc_page.html").render(
            lang=lang, kind=kind, title=title, **context
        )
        return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)

    async def token(self, request: Request) -> Response:
        plain = await self._plain(request)
        return _json(await self.provider.token(plain)) if plain else _too_large()

    async def introspect(self, request: Request) -> Response:
        plain = await self._plain(request)
        return _json(await self.provider.introspect(plain)) if plain else _too_large()

    async def revoke(self, request: Request) -> Response:
        plain = await self._plain(request)
        return _json(await self.provider.revoke(plain)) if plain else _too_large()

    async def userinfo(self, request: Request) -> Response:
        status, body, headers = await self.provider.userinfo(bearer_token(request))
        return JSONResponse(body, status_code=status, headers={**headers, "Cache-Control": "no-store"})

    async def logout(self, request: Request) -> Response:
        session = await self._session(request)
        lang = client_info(request, self.rt.settings).locale
        csrf = None
        args = list(request.query_params.multi_items())
        if request.method == "POST":
            form = await _form(request)
            if form is None:
                return _too_large()
            if "csrf" in form and posted_from_own_page(request, self.rt.settings):
                csrf = form["csrf"]
                args = parse_qsl(form.get("request", ""), keep_blank_values=True)
            else:
                args = list(form.items())  # a relying party may POST the logout request itself
        outcome = await self.provider.end_session(args, session, csrf)
        if isinstance(outcome, NeedLogoutConfirmation):
            return self._page(
                lang, "logout", 200, client_name=outcome.client_name, query=outcome.query, csrf=outcome.csrf
            )
        if isinstance(outcome, ErrorPage):
            return self._page(
                lang, "error", 400, message=t("oidc.error.lead", lang), detail=f"{outcome.error}: {outcome.description}"
            )
        assert isinstance(outcome, LoggedOut)
        if outcome.location:
            response: Response = RedirectResponse(
                outcome.location, status_code=303 if request.method == "POST" else 302
            )
        else:
            response = self._page(lang, "loggedout", 200, message=t("oidc.loggedout.lead", lang))
        clear_session_cookie(response, self.rt.settings)
        return response

    async def _plain(self, request: Request) -> PlainRequest | None:
        form = await _form(request)
        if form is None:
            return None
        return PlainRequest(
            request.method,
            self.rt.settings.public_url + request.url.path,
            {k.title(): v for k, v in request.headers.items()},
            args=list(request.query_params.multi_items()),
            form=list(form.multi_items()),
        )


async def _form(request: Request) -> Any:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_FORM_BYTES):
        return None
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        from starlette.datastructures import FormData

        return FormData()
    return await request.form()


def _json(reply: Reply) -> Response:
    headers = {k: v for k, v in reply.headers if k.lower() != "content-type"}
    return JSONResponse(reply.body, status_code=reply.status, headers=headers)


def _too_large() -> Response:
    return JSONResponse({"error": "invalid_request", "error_description": "request too large"}, status_code=413)
