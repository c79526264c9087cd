"""Log lines an operator can follow: the request id and client address on every line, JSON on request.

`api/middleware.py` sets the two context variables at the edge of each request; every log line
written while that request runs (by our code or a library's) carries them, through `RequestContext`.
`PORTAL_LOG_FORMAT=json` writes one JSON object per line instead of text. Lines are written in batches
(`BatchedStreamHandler`): a warning or error at once, the rest within `WRITE_DELAY` seconds.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import sys
import threading
import time
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
    # 32 hex digits, as `uuid4().hex` gave. Unique, not secret (a caller may choose its own), so the process's
    # Mersenne Twister (seeded from the OS, reseeded in a forked child) makes it: `secrets` made a getrandom(2)
    # system call for every request.
    return f"{random.getrandbits(128):032x}"  # noqa: S311


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
WRITE_DELAY = 0.2  # seconds an info line may wait for the lines after it
WRITE_LIMIT = 64 * 1024  # characters that are written at once, however young


class BatchedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes a warning or an error at once and the lines below them in batches.

    Why: every request writes an access line, and one `write` per line was ~20 µs of an authenticated `me`'s
    ~210 µs of CPU on loopback (BENCHMARKS.md, issue 21). Here a line is formatted when it is logged (so it
    keeps its request's context and time) and written with the others within `delay` seconds, by a thread of
    this handler's own, or at once when `limit` characters wait. A warning or error goes out at once, after
    the lines logged before it, so the order holds. `flush()` writes everything (logging's shutdown calls it
    at exit, `flush_logs` when the app stops); a process killed outright loses at most `delay` seconds of info
    lines, never a warning.
    """

    def __init__(self, stream: object = None, delay: float = WRITE_DELAY, limit: int = WRITE_LIMIT) -> None:
        super().__init__(stream)
        self.delay = delay
        self.limit = limit
        self._pending: list[str] = []
        self._size = 0
        self._due = threading.Event()  # set while lines wait for the writer
        self._writer_pid: int | None = None  # the writer thread belongs to the process that started it

    def emit(self, record: logging.LogRecord) -> None:  # logging calls it holding self.lock
        try:
            line = self.format(record) + self.terminator
        except Exception:  # noqa: BLE001 - logging's own convention: report, never raise into the caller
            self.handleError(record)
            return
        self._pending.append(line)
        self._size += len(line)
        if record.levelno >= logging.WARNING or self._size >= self.limit:
            self._write_pending()
        elif not self._due.is_set():
            self._start_writer()
            self._due.set()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]  # Handler.createLock made it
            self._write_pending()

    def _write_pending(self) -> None:
        self._due.clear()
        if not self._pending:
            return
        text = "".join(self._pending)
        self._pending.clear()
        self._size = 0
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # the stream is gone (a closed pipe or file): nothing could write these
            pass

    def _start_writer(self) -> None:
        pid = os.getpid()
        if self._writer_pid != pid:  # the first line of this process (a forked child starts its own)
            self._writer_pid = pid
            threading.Thread(target=self._write_when_due, name="log-writer", daemon=True).start()

    def _write_when_due(self) -> None:
        while True:
            self._due.wait()
            time.sleep(self.delay)
            self.flush()


def flush_logs() -> None:
    """Writes every line the root handlers hold back.

    uvicorn ends a server stopped by SIGTERM by raising the signal again under its default handler, so the
    process dies without logging's exit-time flush. The app's lifespan calls this as it ends (api/app.py),
    once the last request has finished: the access lines of a deployment's final requests are kept.
    """
    for handler in logging.getLogger().handlers:
        handler.flush()


def configure_logging(log_format: str = "text", level: int = logging.INFO) -> None:
    """Root logging for a `portal` process; every handler gets the request context."""
    # None of our formats shows the caller's file and line, thread or process: logging need not look them up
    # for every record (the logging HOWTO's "Optimization" section names these switches).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = BatchedStreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RequestContext())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
