"""`GET /auth/federated/{provider}/callback`: where identity providers send the resident back.

Success: the session cookie and a 303 to `returnTo` (browser), or a 303 to the app's `returnTo` with a
one-time `code` (mobile). Any failure: a small page in the resident's language, status 400, no session.
"""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from portal.api.http import client_info, set_session_cookie
from portal.core.errors import TooMany
from portal.core.i18n import t, tn
from portal.core.runtime import Runtime
from portal.identity import federation
from portal.identity.provider.flow import AUTHORIZE_PATH, resume_path
from portal.identity.sessions import open_browser_session
from portal.schema.federation import binding_cookie_name

MAX_PARAM = 4096
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the callback URL carries the authorization code
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
}


class FederationCallback:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def handle(self, request: Request) -> Response:
        settings = self.rt.settings
        client = client_info(request, settings)
        params = {k: v[:MAX_PARAM] for k, v in request.query_params.items() if k in ("state", "code", "iss", "error")}
        binding_name = binding_cookie_name(settings.secure_cookies)
        outcome = await federation.complete(
            self.rt, request.path_params["provider"], params, request.cookies.get(binding_name), client
        )
        response: Response
        if isinstance(outcome, federation.SignedIn):
            session = outcome.issued.session
            cookie = await open_browser_session(self.rt, session)  # as the web pages do
            back = outcome.return_to
            if back.startswith(settings.public_url + AUTHORIZE_PATH + "?"):  # a partner's request, proved for it
                back = settings.public_url + resume_path(self.rt, back[len(settings.public_url) :], session.id)
            response = RedirectResponse(back, status_code=303, headers=PAGE_HEADERS)
            set_session_cookie(response, settings, cookie, session, self.rt.clock.now())
        elif isinstance(outcome, federation.CodeIssued):
            response = RedirectResponse(outcome.redirect_url, status_code=303, headers=PAGE_HEADERS)
        elif isinstance(outcome, TooMany):
            seconds = outcome.retry_after_seconds
            message = tn("FED_TOO_MANY", seconds, client.locale, seconds=seconds)
            response = _page(client.locale, message, 429, settings.public_url)
            response.headers["Retry-After"] = str(outcome.retry_after_seconds)
        else:
            response = _page(client.locale, t(outcome.reason, client.locale), 400, settings.public_url)
        if binding_name in request.cookies and response.status_code == 303:  # spent: drop the binding
            response.delete_cookie(
                binding_name, path="/", secure=settings.secure_cookies, httponly=True, samesite="lax"
            )
        return response


def _page(lang: str, message: str, status: int, public_url: str) -> HTMLResponse:
    title = escape(t("FED_PAGE_TITLE", lang))
    body = f"""<!doctype html>
<html lang="{escape(lang)}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}</style>
</head><body><main><h1>{title}</h1><p role="alert">{escape(message)}</p>
<p><a href="{escape(public_url)}/login">{escape(t("FED_BACK", lang))}</a></p></main></body></html>
"""
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)
