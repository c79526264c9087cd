"""Log lines an operator can follow: the request id and client address on every line, JSON on request.

`api/middleware.py` sets the two context variables at the edge of each request; every log line
written while that request runs (by our code or a library's) carries them, through `RequestContext`.
`PORTAL_LOG_FORMAT=json` writes one JSON object per line instead of text.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

request_id_var: ContextVar[str | None] = ContextVar("portal_request_id", default=None)
client_var: ContextVar[str | None] = ContextVar("portal_client", default=None)

# A caller's own X-Request-ID is kept only when it is short and plain (no log or header injection).
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def accept_request_id(offered: str | None) -> str:
    """The caller's id when sane (at most 64 of `A-Za-z0-9._-`), otherwise a new random one."""
    if offered is not None and _SANE_REQUEST_ID.fullmatch(offered):
        return offered
    return secrets.token_hex(16)  # 32 hex digits, as `uuid4().hex` gave, for a third of its cost


def current_request_id() -> str | None:
    return request_id_var.get()


class RequestContext(logging.Filter):
    """Adds `request_id` and `client` to every record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.client = client_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, client, and any `extra` fields."""

    _STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id", "client"}

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ("request_id", "client"):
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        for name, value in vars(record).items():
            if name not in self._STANDARD and not name.startswith("_"):
                line[name] = value if isinstance(value, str | int | float | bool) or value is None else str(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(log_format: str = "text", level: int = logging.INFO) -> None:
    """Root logging for a `portal` process; every handler gets the request context."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RequestContext())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
