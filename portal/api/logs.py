"""The log policy at the process edge: our own access log, which never writes a secret.

uvicorn's access log prints the request line as received, so `/reset-password?token=…`,
`/support/status?…&key=…` and `/oauth/logout?id_token_hint=…` would land in the log. `portal serve`
turns it off and the edge middleware (api/middleware.py) writes one line per request instead, with the
value of every query parameter not on a short allowlist replaced by `[redacted]` (an allowlist, so a
parameter added later is hidden until someone decides it is harmless). Headers and bodies are never logged.
See docs/hostile-input.md.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote

from portal.api.security import Scope

# Query parameters whose values are never secret and help an operator read the log.
SHOWN_PARAMS = frozenset(
    {
        "lang", "sent", "done", "new", "notice", "number", "page", "after", "first", "status", "category",
        "error", "prompt", "response_type", "scope", "client_id", "redirect_uri", "code_challenge_method",
    }
)  # fmt: skip
REDACTED = "[redacted]"


def redact_query(query: str) -> str:
    """`token=abc&lang=en` → `token=[redacted]&lang=en`; an unparsable query is hidden whole."""
    if not query:
        return ""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, max_num_fields=100)
    except ValueError:
        return REDACTED
    return "&".join(
        f"{quote(name, safe='')}={quote(value, safe='') if name in SHOWN_PARAMS else REDACTED}" for name, value in pairs
    )


def request_line(scope: Scope) -> str:
    """The method, the path and the redacted query, as the access log writes them."""
    query = redact_query(scope.get("query_string", b"").decode("latin-1"))
    path = quote(scope.get("path", ""), safe="/:@!$&'()*+,;=-._~")
    return f"{scope.get('method', '?')} {path}{'?' + query if query else ''}"


def access_line(scope: Scope, status: int, milliseconds: float) -> tuple[str, tuple[object, ...]]:
    """The text-mode access line (format and arguments, for `log.info`): client, request line (redacted),
    status, milliseconds."""
    client = scope.get("client")
    return '%s "%s HTTP/%s" %d %.1fms', (
        client[0] if client else "-",
        request_line(scope),
        scope.get("http_version", "1.1"),
        status,
        milliseconds,
    )
