"""A minimal `/reset-password` page until the web pages land: a real form posting to the same service.

GET only renders (it never looks the token up, so opening the link three times spends nothing); POST calls
`identity.reset.reset_password`, exactly as the GraphQL mutation does. `Referrer-Policy: no-referrer`
keeps the token out of any Referer header, and the page may not be framed or cached.
"""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from api.http import client_info
from api.i18n import t
from api.runtime import Runtime
from identity.errors import Invalid, TooMany
from identity.reset import FORGOT_PATH, PasswordReset, reset_password

HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
}
MAX_FORM_BYTES = 16 * 1024


def _page(lang: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(t('RESET_PAGE_TITLE', lang))}</title></head>"
        '<body style="font-family:Arial,Helvetica,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem">'
        f"<h1>{escape(t('RESET_PAGE_TITLE', lang))}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _form(rt: Runtime, lang: str, token: str, errors: list[str] | None = None) -> str:
    problems = "".join(f'<p role="alert" style="color:#b00020">{escape(e)}</p>' for e in errors or [])
    hint = escape(t("RESET_PAGE_HINT", lang, min=rt.settings.password_min_length))
    return (
        f'{problems}<form method="post" action="/reset-password">'
        f'<input type="hidden" name="token" value="{escape(token)}">'
        f'<p><label for="newPassword">{escape(t("RESET_PAGE_PASSWORD", lang))}</label><br>'
        '<input id="newPassword" name="newPassword" type="password" autocomplete="new-password" required '
        f'minlength="{rt.settings.password_min_length}" maxlength="{rt.settings.password_max_length}"></p>'
        f'<p><label for="newPasswordConfirmation">{escape(t("RESET_PAGE_CONFIRMATION", lang))}</label><br>'
        '<input id="newPasswordConfirmation" name="newPasswordConfirmation" type="password" '
        'autocomplete="new-password" required></p>'
        f'<p style="color:#555">{hint}</p>'
        f'<p><button type="submit">{escape(t("RESET_PAGE_SUBMIT", lang))}</button></p></form>'
    )


def reset_password_page(rt: Runtime):  # type: ignore[no-untyped-def]
    """The Starlette endpoint for GET and POST `/reset-password`."""

    async def endpoint(request: Request) -> Response:
        client = client_info(request, rt.settings)
        lang = client.locale
        if request.method == "GET":
            return _page(lang, _form(rt, lang, request.query_params.get("token", "")[:200]))

        origin = request.headers.get("origin")
        if origin is not None and origin.rstrip("/").lower() != rt.settings.public_origin:
            return PlainTextResponse("Forbidden origin", status_code=403, headers=HEADERS)
        if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
            return PlainTextResponse("Request too large", status_code=413, headers=HEADERS)
        form = await request.form(max_files=0, max_fields=10)
        token = str(form.get("token") or "")
        outcome = await reset_password(
            rt, token, str(form.get("newPassword") or ""), str(form.get("newPasswordConfirmation") or ""), client
        )
        if isinstance(outcome, PasswordReset):
            body = f'<p role="status">{escape(t("PasswordResetSucceeded", lang))}</p>'
            body += f'<p><a href="/login">{escape(t("RESET_PAGE_SIGN_IN", lang))}</a></p>'
            return _page(lang, body)
        if isinstance(outcome, Invalid):
            messages = [t(p.code, lang, **p.params) for p in outcome.problems]
            return _page(lang, _form(rt, lang, token[:200], messages), status=422)
        if isinstance(outcome, TooMany):
            message = t("TooManyAttempts", lang, seconds=outcome.retry_after_seconds)
            return _page(lang, _form(rt, lang, token[:200], [message]), status=429)
        body = f'<p role="alert">{escape(t("InvalidToken", lang))}</p>'
        body += f'<p><a href="{FORGOT_PATH}">{escape(t("RESET_PAGE_AGAIN", lang))}</a></p>'
        return _page(lang, body, status=400)

    return endpoint
