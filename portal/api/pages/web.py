"""What every web page shares: templates, language, CSRF, the browser session, safe `next` targets."""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from portal.api.http import LANG_COOKIE, browser_session, client_info, posted_from_own_page
from portal.api.pages.links import LinkSecrets
from portal.core.client import ClientInfo
from portal.core.errors import FieldProblem, Invalid, TooMany
from portal.core.i18n import code_message, install_gettext, language_name, t, tn
from portal.core.localtime import format_local
from portal.core.runtime import Runtime
from portal.core.tokens import new_token
from portal.models.accounts import Session
from portal.schema.context import Caller

MAX_FORM_BYTES = 32 * 1024
MAX_FIELDS = 40
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600
TOKEN_MAX = 200  # a mailed link's token, as long as it may be
# Where `next` may lead after sign-in: the portal's own pages and the OpenID Provider's authorization endpoint.
NEXT_ALLOWED = ("/account", "/support", "/oauth/authorize", "/desk")
# Page-level headers; the app-wide security middleware may set the same ones (the values agree).
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
_UNSAFE_NEXT = re.compile(r"[\x00-\x20\x7f\\]")

_env = Environment(
    loader=PackageLoader("portal.api", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
install_gettext(_env)  # `_()`, `gettext`, `ngettext` in the page's `lang`

Handler = Callable[["Visit"], Awaitable[Response]]


@dataclass
class Visit(Caller):
    """One page request: who, in which language (`lang`), with which CSRF nonce and (maybe) which session
    (`account`): `lang` and `account` as a GraphQL operation's context has them."""

    request: Request
    rt: Runtime
    client: ClientInfo
    csrf_nonce: str
    csrf_is_new: bool
    session: Session | None = None
    form: FormData | None = None
    extra_cookies: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def t(self, key: str, **params: object) -> str:
        return t(key, self.lang, **params)

    def value(self, name: str, limit: int = 4000) -> str:
        """A form field as typed (never trimmed here: services normalise), bounded."""
        raw = self.form.get(name) if self.form is not None else None
        return raw[:limit] if isinstance(raw, str) else ""


def field_errors(outcome: Invalid | FieldProblem, lang: str) -> dict[str, str]:
    """Service field problems as {form field name: localised message}; the first problem of a field wins."""
    problems = [outcome] if isinstance(outcome, FieldProblem) else outcome.problems
    errors: dict[str, str] = {}
    for p in problems:
        errors.setdefault(p.field, code_message(p.code, lang, **p.params))
    return errors


def too_many_answer(limited: TooMany, lang: str) -> dict[str, Any]:
    """A form's re-render for a throttled post: the message, 429 and `Retry-After` (as keyword arguments)."""
    seconds = limited.retry_after_seconds
    return {
        "problem": tn("TooManyAttempts", seconds, lang, seconds=seconds),
        "status": 429,
        "headers": {"Retry-After": str(seconds)},
    }


def refusal_answer(outcome: object, lang: str) -> dict[str, Any] | None:
    """A form's re-render for a throttled (429) or invalid (400, field errors) outcome; None for any other."""
    if isinstance(outcome, TooMany):
        return too_many_answer(outcome, lang)
    if isinstance(outcome, Invalid):
        return {"errors": field_errors(outcome, lang), "status": 400}
    return None


def safe_next(raw: str | None, public_url: str, default: str = "/account") -> str:
    """A path on this portal to go to after sign-in, or `default`: never another origin (no open redirect)."""
    if not raw or len(raw) > 4000 or _UNSAFE_NEXT.search(raw):
        return default
    if raw.lower().startswith(public_url.lower() + "/"):
        raw = raw[len(public_url) :]
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc or not raw.startswith("/") or raw.startswith("//"):
        return default
    path = parts.path
    if ".." in path.split("/") or "%" in path:
        return default
    if not any(path == allowed or path.startswith(allowed + "/") for allowed in NEXT_ALLOWED):
        return default
    return raw


class Pages:
    """Builds visits and responses for the page routes of one runtime."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        s = rt.settings
        self.csrf_cookie = "__Host-portal_csrf" if s.secure_cookies else "portal_csrf"
        self.own_origin = s.public_origin

    # ---- requests ------------------------------------------------------------------------------

    async def visit(self, request: Request, *, with_session: bool = True) -> Visit:
        client = client_info(request, self.rt.settings)
        nonce = request.cookies.get(self.csrf_cookie) or ""
        is_new = not (16 <= len(nonce) <= 128)
        if is_new:
            nonce = new_token()
        session = await browser_session(self.rt, request) if with_session else None
        return Visit(request, self.rt, client, nonce, is_new, session)

    def csrf_token(self, visit: Visit) -> str:
        return self.rt.tokens.digest("page-csrf", visit.csrf_nonce)

    def same_origin(self, request: Request) -> bool:
        """A cross-site POST is refused before its token is even looked at (defence in depth)."""
        return posted_from_own_page(request, self.rt.settings)

    async def read_form(self, visit: Visit) -> bool:
        """Reads a urlencoded form (at most MAX_FORM_BYTES, however it is sent); True when it carries the
        CSRF token bound to this browser's cookie."""
        request = visit.request
        visit.form = FormData()
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type != "application/x-www-form-urlencoded":
            return False
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_FORM_BYTES):
            return False
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                return False
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
        except (UnicodeDecodeError, ValueError):
            return False
        visit.form = FormData([(name, value) for name, value in pairs])
        if visit.csrf_is_new or not self.same_origin(request):
            return False
        sent = visit.form.get("csrf")
        return isinstance(sent, str) and hmac.compare_digest(sent.encode(), self.csrf_token(visit).encode())

    # ---- responses -----------------------------------------------------------------------------

    def render(
        self,
        visit: Visit,
        template: str,
        context: Mapping[str, Any] | None = None,
        *,
        status: int = 200,
        referrer_policy: str = "same-origin",
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        request = visit.request
        values: dict[str, Any] = {
            "lang": visit.lang,
            "csrf": self.csrf_token(visit),
            "account": visit.account,
            "path": request.url.path,
            "lang_links": self.lang_links(request, visit.lang),
            "errors": {},
            "form": {},
            "fmt_time": lambda value: format_time(value, visit.lang, self.rt.settings.zone),
        }
        values.update(context or {})
        html = _env.get_template(template).render(values)
        response = HTMLResponse(html, status_code=status, headers=dict(headers or {}))
        self.finish(visit, response, referrer_policy=referrer_policy)
        return response

    def form(
        self,
        visit: Visit,
        template: str,
        context: Mapping[str, Any] | None = None,
        *,
        problem: str | None = None,
        errors: Mapping[str, str] | None = None,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        referrer_policy: str = "same-origin",
    ) -> HTMLResponse:
        """A form page, shown or shown again after a refused post: `problem` heads the form, `errors` sit by
        their fields (`too_many_answer` and `refusal_answer` give these and the status as keyword arguments)."""
        values = {**(context or {}), "problem": problem, "errors": errors or {}}
        return self.render(visit, template, values, status=status, referrer_policy=referrer_policy, headers=headers)

    def redirect(self, visit: Visit, url: str) -> RedirectResponse:
        """303 See Other: a form post (credentials included) never replays on reload or back."""
        response = RedirectResponse(url, status_code=303)
        self.finish(visit, response)
        return response

    def finish(self, visit: Visit, response: Response, *, referrer_policy: str = "same-origin") -> None:
        h = response.headers
        h["Cache-Control"] = "no-store"
        h["Referrer-Policy"] = referrer_policy
        h["X-Frame-Options"] = "DENY"
        h["X-Content-Type-Options"] = "nosniff"
        h["Content-Security-Policy"] = PAGE_CSP
        if visit.csrf_is_new:
            response.set_cookie(
                self.csrf_cookie,
                visit.csrf_nonce,
                path="/",
                secure=self.rt.settings.secure_cookies,
                httponly=True,
                samesite="lax",
            )
            visit.csrf_is_new = False
        for name, value, options in visit.extra_cookies:
            response.set_cookie(name, value, **options)

    def lang_links(self, request: Request, current: str) -> list[dict[str, Any]]:
        """The language switch: this same page with `?lang=xx` (the page remembers it and drops the parameter)."""
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
        return [
            {
                "code": code,
                "label": language_name(code),
                "href": request.url.path + "?" + urlencode([*params, ("lang", code)]),
                "current": code == current,
            }
            for code in self.rt.settings.language_list
        ]

    def language_switch(self, request: Request) -> Response | None:
        """`?lang=xx` on any page: remember it in `portal_lang`, come back to the same URL without it."""
        chosen = request.query_params.get("lang")
        if chosen is None:
            return None
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
        target = request.url.path + ("?" + urlencode(params) if params else "")
        response = RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
        if chosen in self.rt.settings.language_list:
            response.set_cookie(
                LANG_COOKIE,
                chosen,
                max_age=LANG_COOKIE_MAX_AGE,
                path="/",
                secure=self.rt.settings.secure_cookies,
                httponly=True,
                samesite="lax",
            )
        return response

    async def signed_in(self, request: Request, back: str | None = None) -> Visit | Response:
        """The signed-in resident's visit, or the way to sign in first (and back to `back`, or to this page)."""
        visit = await self.visit(request)
        if visit.session is None or visit.account is None:
            return self.sign_in_first(visit, back)
        return visit

    async def signed_in_page(self, request: Request) -> Visit | Response:
        """A page for the signed-in: `?lang=xx` answered first (remembered, then the same URL without it),
        then as `signed_in`, back to this page."""
        if switched := self.language_switch(request):
            return switched
        return await self.signed_in(request)

    def sign_in_first(self, visit: Visit, back: str | None = None) -> RedirectResponse:
        """No live browser session: to the sign-in page, which comes back here afterwards.

        `back` is where to return afterwards; by default this same page (a POST names its page instead).
        """
        request = visit.request
        here = back or request.url.path + ("?" + request.url.query if request.url.query else "")
        return self.redirect(visit, "/login?" + urlencode({"next": here}))


class PageGroup:
    """One area's pages (a class each: sign-in, account, reset, ...) over the shared `Pages`."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages
        self.rt = pages.rt

    @cached_property
    def links(self) -> LinkSecrets:
        """The secrets mailed links bring (api/pages/links.py), for the pages such a link opens."""
        return LinkSecrets(self.rt)

    async def link_visit(
        self, request: Request, max_age: int, *, with_session: bool = True
    ) -> tuple[Visit, str] | Response:
        """A page a mailed link opens: `?lang=xx` answered first; then the link's `token` leaves the address bar
        at once (into this path's sealed cookie for `max_age` seconds); then the visit and that token ('' if none).
        """
        if switched := self.pages.language_switch(request):
            return switched
        if moved := self.links.move_out_of_url(request, ("token",), max_age):
            return moved
        visit = await self.pages.visit(request, with_session=with_session)
        return visit, self.links.read(request, request.url.path).get("token", "")[:TOKEN_MAX]


def format_time(value: datetime | None, lang: str, zone: ZoneInfo) -> str:
    """A readable time in the portal's zone (PORTAL_TIMEZONE), the zone named; `<time datetime>` keeps UTC."""
    return "" if value is None else format_local(value, zone, lang)


def describe_device(user_agent: str | None, lang: str) -> str:
    """"Chrome, Android" from a User-Agent string: enough for a resident to recognise a device."""
    ua = user_agent or ""
    browser = next(
        (name for token, name in _BROWSERS if token in ua),
        t("device.unknown_browser", lang),
    )
    system = next((name for token, name in _SYSTEMS if token in ua), None)
    return f"{browser}, {system}" if system else browser


_BROWSERS = (
    ("YaBrowser", "Яндекс Браузер"),
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("python-httpx", "httpx"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)
