"""Log lines are written in batches (core/logs.py `BatchedStreamHandler`): an info line within the handler's
delay, a warning or an error at once and after every line logged before it, everything at exit."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import httpx

from portal.core.logs import TEXT_FORMAT, BatchedStreamHandler, RequestContext
from tests.helpers import free_port, settings_env, started, stop_process, wait_until

ROOT = Path(__file__).resolve().parent.parent


def logger_writing_to(stream: io.StringIO, delay: float, limit: int = 64 * 1024) -> logging.Logger:
    handler = BatchedStreamHandler(stream, delay=delay, limit=limit)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RequestContext())
    log = logging.getLogger(f"tests.batched.{id(stream)}")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.handlers = [handler]
    return log


def test_info_lines_wait_and_a_warning_writes_them_first_in_order():
    stream = io.StringIO()
    log = logger_writing_to(stream, delay=3600)  # the writer thread never gets there in this test
    log.info("first")
    log.info("second")
    assert stream.getvalue() == ""  # waiting for the batch
    log.warning("third")
    assert stream.getvalue() == "INFO first\nINFO second\nWARNING third\n"
    log.error("fourth")
    assert stream.getvalue().endswith("WARNING third\nERROR fourth\n")


def test_info_lines_are_written_within_the_delay_by_the_handlers_thread():
    stream = io.StringIO()
    log = logger_writing_to(stream, delay=0.05)
    for n in range(3):
        log.info("line %d", n)
    assert wait_until(lambda: stream.getvalue() == "INFO line 0\nINFO line 1\nINFO line 2\n", 5, pause=0.02)
    log.info("later")  # a second batch: the thread waits for the next line, not on a clock
    assert wait_until(lambda: stream.getvalue().endswith("INFO later\n"), 5, pause=0.02)


def test_a_full_batch_is_written_at_once():
    stream = io.StringIO()
    log = logger_writing_to(stream, delay=3600, limit=100)
    for n in range(9):
        log.info("%d%s", n, "x" * 8)  # "INFO 0xxxxxxxx\n": 15 characters
    assert stream.getvalue().count("\n") == 7  # the seventh line passed 100 characters
    log.handlers[0].flush()
    assert stream.getvalue().count("\n") == 9


def test_a_process_that_exits_writes_every_line():
    code = (
        "import logging; from portal.core.logs import configure_logging; configure_logging('json'); "
        "[logging.getLogger('portal.test').info('line %d', n) for n in range(500)]"
    )
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60,
    )
    lines = done.stderr.splitlines()
    assert len(lines) == 500 and '"message": "line 499"' in lines[-1], done.stderr[-500:]


def test_the_portal_logs_through_the_batched_handler(monkeypatch):
    from portal.core.logs import configure_logging

    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))  # restored afterwards, with the switches below
    monkeypatch.setattr(root, "level", root.level)
    for switch in ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing"):
        monkeypatch.setattr(logging, switch, getattr(logging, switch))
    configure_logging("text")
    (handler,) = root.handlers
    assert isinstance(handler, BatchedStreamHandler)
    assert handler.formatter is not None and handler.formatter._fmt == TEXT_FORMAT


def test_a_server_stopped_by_sigterm_keeps_the_access_lines_of_its_last_requests(settings, database, tmp_path):
    """uvicorn re-raises SIGTERM once it has shut down, and the process dies without logging's exit-time flush;
    the app's lifespan writes what the handler still holds (here everything: the writer thread never runs)."""
    port = free_port()
    code = (
        "import logging, uvicorn; from portal.core.logs import configure_logging; "
        "from portal.api.app import create_app; from portal.api.cli.server import serve_options; "
        "configure_logging('text'); logging.getLogger().handlers[0].delay = 3600; "
        f"uvicorn.run(create_app(), **serve_options('127.0.0.1', {port}))"
    )
    log = tmp_path / "serve.log"
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        env={**os.environ, **settings_env(settings), "PORTAL_DELIVER_MAIL_IN_PROCESS": "false", "PYTHONPATH": str(ROOT)},
    )
    try:
        live = started(process, f"http://127.0.0.1:{port}", log)
        assert httpx.get(live.url + "/readyz", timeout=5).status_code == 200  # the last request
    finally:
        stop_process(process)
    assert process.returncode == -15  # killed by the SIGTERM uvicorn raised again, as in production
    assert '"GET /readyz HTTP/1.1" 200' in log.read_text(), log.read_text()[-2000:]
