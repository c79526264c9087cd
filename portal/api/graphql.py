"""`POST /graphql`: JSON in, JSON out, one operation per request, the session from a bearer token or cookie."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from portal.api.http import (
    bearer_token,
    clear_session_cookie,
    client_info,
    session_cookie_name,
    set_session_cookie,
)
from portal.api.security import unavailable
from portal.core.logs import accept_request_id
from portal.core.runtime import Runtime
from portal.identity.sessions import IssuedSession, authenticate, browser_session, open_browser_session
from portal.models.availability import is_unavailable
from portal.schema.context import Context
from portal.schema.limits import error_code, without_suggestions
from portal.schema.runner import Runner

log = logging.getLogger("portal.http")

MAX_BODY_BYTES = 64 * 1024
# GraphiQL (development only) loads its scripts from a CDN and runs inline code.
GRAPHIQL_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https:; style-src 'self' 'unsafe-inline' https:; "
    "img-src 'self' data: https:; font-src 'self' data: https:; connect-src 'self'; frame-ancestors 'none'"
)


class GraphQLEndpoint:
    """A deliberately small transport: only `POST` with `application/json`, no batching, no GET queries."""

    def __init__(self, rt: Runtime, runner: Runner) -> None:
        self.rt = rt
        self.runner = runner
        self.cookie_name = session_cookie_name(rt.settings)
        self.allowed_origins = {
            rt.settings.public_origin,
            *(origin.rstrip("/").lower() for origin in rt.settings.cors_origin_list),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI app the edge middleware hands `/graphql` to, past Starlette's router (api/middleware.py)."""
        response = await self.handle(Request(scope, receive))
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        request_id = request.scope.get("state", {}).get("request_id") or accept_request_id(None)  # the edge sets it
        if request.method == "GET":
            if not self.rt.settings.production and "text/html" in request.headers.get("accept", ""):
                return HTMLResponse(_graphiql_html(), headers={"Content-Security-Policy": GRAPHIQL_CSP})
            return _problem(405, "METHOD_NOT_ALLOWED", "Use POST with a JSON body.", request_id, {"Allow": "POST"})
        if request.method != "POST":
            return _problem(405, "METHOD_NOT_ALLOWED", "Use POST with a JSON body.", request_id, {"Allow": "POST"})

        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type != "application/json":
            return _problem(415, "UNSUPPORTED_MEDIA_TYPE", "Send the operation as application/json.", request_id)

        timeout = self.rt.settings.request_timeout
        reading = True
        try:
            # One timer for both limits, moved on once the body is in (a second scope was ~2 % of `me`).
            async with asyncio.timeout(timeout) as limit:  # a slowly dripping body holds no worker for long
                operation = await self._read_operation(request, request_id)
                if isinstance(operation, Response):
                    return operation
                reading = False
                limit.reschedule(asyncio.get_running_loop().time() + timeout)
                return await self._run(request, request_id, *operation)
        except TimeoutError:
            if reading:
                return _problem(408, "REQUEST_TIMEOUT", f"The request body took longer than {timeout:g} s.", request_id)
            log.warning("operation timed out after %gs (request %s)", timeout, request_id)
            return _problem(503, "REQUEST_TIMEOUT", f"The operation took longer than {timeout:g} s.", request_id)

    async def _read_operation(
        self, request: Request, request_id: str
    ) -> tuple[str, dict[str, Any] | None, str | None] | Response:
        """The body's query, variables and operation name, or the problem answer for a body that has none."""
        body = await _read_limited(request, MAX_BODY_BYTES)
        if body is None:
            limit = f"The request body is limited to {MAX_BODY_BYTES} bytes."
            return _problem(413, "REQUEST_TOO_LARGE", limit, request_id)
        try:
            payload = _decode_json(body)
        except (ValueError, RecursionError):  # invalid JSON or UTF-8, lone surrogates, absurd nesting
            return _problem(400, "INVALID_JSON", "The request body is not valid JSON.", request_id)
        if isinstance(payload, list):
            return _problem(400, "BATCHING_NOT_SUPPORTED", "Send one operation per request.", request_id)
        if not isinstance(payload, dict):
            return _problem(400, "INVALID_REQUEST", "The request body must be a JSON object.", request_id)
        query = payload.get("query")
        variables = payload.get("variables")
        operation_name = payload.get("operationName")
        if not isinstance(query, str) or not query.strip():
            return _problem(400, "INVALID_REQUEST", "The request has no query.", request_id)
        if variables is not None and not isinstance(variables, dict):
            return _problem(400, "INVALID_REQUEST", "`variables` must be an object.", request_id)
        if operation_name is not None and not isinstance(operation_name, str):
            return _problem(400, "INVALID_REQUEST", "`operationName` must be a string.", request_id)
        return query, variables, operation_name

    async def _run(
        self,
        request: Request,
        request_id: str,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
    ) -> Response:
        """The operation with the caller's session (bearer token or cookie), as a JSON answer with its cookies."""
        settings = self.rt.settings
        token = bearer_token(request)
        cookie = None if token is not None else request.cookies.get(self.cookie_name)
        origin = request.headers.get("origin")
        allowed_origin = origin is not None and origin.rstrip("/").lower() in self.allowed_origins
        if cookie is not None and origin is not None and not allowed_origin:
            return _problem(403, "ORIGIN_NOT_ALLOWED", "This origin may not use the session cookie.", request_id)
        if token is not None:
            session = await authenticate(self.rt, token)
        else:
            session = await browser_session(self.rt, cookie) if cookie else None

        changes: list[IssuedSession | None] = []
        context = Context(
            rt=self.rt,
            client=client_info(request, settings),
            request_id=request_id,
            session=session,
            on_session_change=changes.append,
        )
        try:
            result = await self.runner.execute(query, variables, context, operation_name)
        except (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError):
            return _problem(400, "INVALID_REQUEST", "No operation to run: check `operationName`.", request_id)
        if result.errors and any(is_unavailable(error.original_error) for error in result.errors):
            return unavailable(request_id, settings.unavailable_retry_after)  # not a bug: 503 and Retry-After
        data: dict[str, Any] = {}
        if result.errors:
            data["errors"] = [_format_error(e, request_id, settings.production) for e in result.errors]
        data["data"] = result.data
        status = 200 if result.data is not None or not result.errors else 400
        if status == 400 and any(e["extensions"]["code"] == "TOO_MANY_REQUESTS" for e in data["errors"]):
            status = 429  # a per-client mutation limit (schema/edge.py) on a field without TooManyAttempts
        response = JSONResponse(data, status_code=status, headers=NO_STORE)
        browser = _from_a_page(request, allowed_origin)
        for change in changes:  # a page's sign-in sets the browser's cookie, sign-out clears it
            if change is None:
                clear_session_cookie(response, settings)
            elif browser and change.session.cookie_hash is None:
                cookie_token = await open_browser_session(self.rt, change.session, keep_bearer=True)
                set_session_cookie(response, settings, cookie_token, change.session, self.rt.clock.now())
        for name, value, max_age in context.cookies:
            response.set_cookie(
                name, value, max_age=max_age, path="/", secure=settings.secure_cookies, httponly=True, samesite="lax"
            )
        if cookie is not None and session is None and not changes:
            clear_session_cookie(response, settings)  # a dead cookie is cleared
        return response


NO_STORE = {"Cache-Control": "no-store"}  # answers carry tokens and personal data


def _from_a_page(request: Request, allowed_origin: bool) -> bool:
    """A browser page of ours (or of a `PORTAL_CORS_ORIGINS` web client) sent this: only then does a sign-in
    set the session cookie. A mobile app or server sends neither header and gets its bearer tokens only,
    never a cookie its HTTP library would keep sending after it dropped the token (issue 14, item 10)."""
    return request.headers.get("sec-fetch-site") == "same-origin" or allowed_origin


def _decode_json(body: bytes) -> Any:
    """Strict UTF-8, then `json.loads`, refusing lone surrogates: raw (`ED A0 80`, which `json.loads(bytes)`
    would let through) and escaped (`"\\ud800"`, valid JSON, but no string a hash or database takes)."""
    payload = json.loads(body.decode("utf-8"))  # UnicodeDecodeError is a ValueError
    if b"\\u" in body:
        json.dumps(payload, ensure_ascii=False).encode("utf-8")  # UnicodeEncodeError is a ValueError
    return payload


def _format_error(error: Any, request_id: str, production: bool = False) -> dict[str, Any]:
    formatted = dict(error.formatted)
    if production:  # no "Did you mean 'login'?": the schema is not advertised in production
        formatted["message"] = without_suggestions(formatted.get("message", ""))
    extensions = dict(formatted.get("extensions") or {})
    code = error_code(formatted.get("message", "")) if error.original_error is None else None
    if code:
        extensions.setdefault("code", code)
    extensions.setdefault("code", "GRAPHQL_VALIDATION_FAILED" if error.original_error is None else "BAD_REQUEST")
    extensions.setdefault("requestId", request_id)
    formatted["extensions"] = extensions
    return formatted


async def _read_limited(request: Request, limit: int) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                return None
        except ValueError:
            return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _problem(
    status: int, code: str, message: str, request_id: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code, "requestId": request_id}}], "data": None},
        status_code=status,
        headers={**NO_STORE, **(headers or {})},
    )


def _graphiql_html() -> str:
    from strawberry.http.ides import get_graphql_ide_html

    return get_graphql_ide_html(graphql_ide="graphiql")
