"""What an operator sees and relies on: `/metrics` on its own port, JSON logs, request ids, bounded memory.

The metrics and logs come from a real `portal serve` (its own process, its own registry); the in-process
throttle's bound is shown on the store itself with a spray of 100,000 identifiers.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from portal.core.throttle import Backoff, Limit, MemoryStore
from tests.helpers import (
    LOGIN,
    PASSWORD,
    SUBMIT,
    form,
    free_port,
    settings_env,
    start_live_server,
    stop_live_server,
    unique,
    wait_until,
)

REQUEST_RESET = "mutation($i:String!){requestPasswordReset(identifier:$i){__typename}}"

# Every family the operator's dashboards are built on (docs/operations.md).
FAMILIES = [
    "portal_http_requests_total",
    "portal_http_request_duration_seconds_bucket",
    "portal_signins_total",
    "portal_password_resets_requested_total",
    "portal_password_resets_completed_total",
    "portal_tickets",
    "portal_tickets_submitted_total",
    "portal_outbox_depth",
    "portal_outbox_oldest_age_seconds",
    "portal_throttle_refusals_total",
    "portal_redis_fallbacks_total",
    "portal_db_pool_connections",
    "portal_db_unavailable_total",
    "portal_argon2_queue_wait_seconds_bucket",
]


def samples(text: str) -> dict[str, float]:
    """`name{labels}` -> value for every sample line of the text format."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            found[key] = float(value)
    return found


def value(found: dict[str, float], name: str, **labels: str) -> float:
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(v for key, v in found.items()
               if key.split("{")[0] == name and all(w in key for w in wanted))


@pytest.fixture
def live(settings, database, tmp_path):  # type: ignore[no-untyped-def]
    metrics_port = free_port()
    env = settings_env(settings) | {
        "PORTAL_METRICS_PORT": str(metrics_port),
        "PORTAL_LOG_FORMAT": "json",
        "PORTAL_DELIVER_MAIL_IN_PROCESS": "false",
    }
    server = start_live_server(env, tmp_path)
    server.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"  # type: ignore[attr-defined]
    yield server
    stop_live_server(server)


async def test_metrics_are_served_apart_and_count_what_happens(live, make_account):
    account = await make_account()
    with httpx.Client(base_url=live.url, timeout=20) as http:
        def login(identifier: str, password: str) -> str:
            body = {"query": LOGIN, "variables": {"identifier": identifier, "password": password}}
            return http.post("/graphql", json=body).json()["data"]["login"]["__typename"]

        assert login(account.email, PASSWORD) == "LoginSuccess"
        failures = 0
        while (answer := login(account.email, "not the password at all")) == "InvalidCredentials":
            failures += 1
            assert failures < 10
        assert answer == "TooManyAttempts"  # the backoff after a few free failures
        http.post("/graphql", json={"query": REQUEST_RESET, "variables": {"i": account.email}})
        submitted = http.post("/graphql", json={"query": SUBMIT, "variables": {"input": form()}}).json()
        assert submitted["data"]["submitSupportTicket"]["__typename"] == "SupportTicketSubmitted"
        assert http.get("/no/such/page").status_code == 404
        # Never on the public port.
        assert http.get("/metrics").status_code == 404

    scrape = httpx.get(live.metrics_url, timeout=20)
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain")
    text = scrape.text
    for family in FAMILIES:
        assert re.search(rf"^{family}(\{{| )", text, re.M), f"{family} missing from /metrics"
    found = samples(text)
    assert value(found, "portal_http_requests_total", route="/graphql", method="POST", status="200") >= 5
    assert value(found, "portal_http_requests_total", route="unmatched", status="404") >= 2  # never the raw path
    assert "/no/such/page" not in text
    assert value(found, "portal_signins_total", outcome="success") == 1
    assert value(found, "portal_signins_total", outcome="invalid_credentials") == failures
    assert value(found, "portal_signins_total", outcome="throttled") == 1
    assert value(found, "portal_throttle_refusals_total", limit="signin") >= 1
    assert value(found, "portal_password_resets_requested_total") == 1
    assert value(found, "portal_tickets_submitted_total") == 1
    assert value(found, "portal_tickets", status="new") >= 1
    assert value(found, "portal_outbox_depth") >= 1  # the reset letter and the ticket's confirmation wait
    assert value(found, "portal_outbox_oldest_age_seconds") >= 0
    assert value(found, "portal_db_pool_connections", state="open") >= 1
    assert value(found, "portal_argon2_queue_wait_seconds_count") >= 2


def test_json_logs_carry_the_request_id_and_client(live):
    with httpx.Client(base_url=live.url, timeout=20) as http:
        mine = http.get("/healthz", headers={"X-Request-ID": "trace-42.a_b"})
        assert mine.headers["x-request-id"] == "trace-42.a_b"  # a sane id is the caller's own
        for hostile in ["x" * 65, "a b", "id\r\nSet-Cookie: x=1", "ünï"]:
            try:
                answer = http.get("/healthz", headers={"X-Request-ID": hostile})
            except (httpx.LocalProtocolError, UnicodeEncodeError):
                continue  # the client refused to send it at all
            assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"]), hostile
        fresh = http.post("/graphql", json={"query": "{ me { id } }"})
        assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["x-request-id"])
        bad = http.post("/graphql", content=b"{", headers={"content-type": "application/json"})
        assert bad.json()["errors"][0]["extensions"]["requestId"] == bad.headers["x-request-id"]

    def records() -> list[dict[str, Any]]:
        lines = [line for line in live.log.read_text().splitlines() if line.startswith("{")]
        return [json.loads(line) for line in lines]  # every JSON-looking line is a whole JSON object

    # Info lines are written in batches, within core.logs.WRITE_DELAY of being logged.
    assert wait_until(lambda: any(r.get("request_id") == bad.headers["x-request-id"] for r in records()), 10)
    access = [r for r in records() if r.get("logger") == "portal.access"]
    ours = [r for r in access if r.get("request_id") == "trace-42.a_b"]
    assert ours and ours[0]["client"] == "127.0.0.1" and ours[0]["route"] == "/healthz" and ours[0]["status"] == 200
    assert any(r.get("request_id") == fresh.headers["x-request-id"] and r["route"] == "/graphql" for r in access)
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records())


async def test_in_process_throttle_state_is_bounded():
    """A spray of 100,000 made-up identifiers keeps at most `max_keys` keys; the newest keep counting."""
    store = MemoryStore(max_keys=5000)
    limit = Limit("spray", 3, 3600)
    backoff = Backoff("spray-backoff", (1, 2), 10, 900, 3600)
    for n in range(100_000):
        await store.hit(f"id-{n}", limit, 1000.0 + n / 1000)
        if n % 10 == 0:
            await store.reserve(f"id-{n}", backoff, 1000.0 + n / 1000)
        assert len(store) <= 5000
    assert len(store) == 5000
    now = 1000.0 + 100
    # The most recent keys are still counted: three hits, then a refusal.
    for _ in range(2):
        assert await store.hit("id-99999", limit, now) is None
    assert await store.hit("id-99999", limit, now) is not None
    # Expired entries go first: long after their windows, one write sweeps them all out.
    await store.hit(unique(), limit, now + 10 * 3600)
    assert len(store) == 1


def test_metrics_port_refuses_several_workers(settings, database, tmp_path):
    """uvicorn's workers would fight over one metrics port: a clear refusal instead (docs/operations.md)."""
    env: dict[str, Any] = settings_env(settings) | {"PORTAL_METRICS_PORT": str(free_port())}
    result = subprocess.run(  # noqa: S603
        [str(Path(sys.executable).parent / "portal"), "serve", "--workers", "2", "--port", str(free_port())],
        env={**os.environ, **env}, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2 and "PORTAL_METRICS_PORT" in result.stderr, result.stderr
