"""Faults with a defined behaviour, on a real `portal serve` over private servers that the test stops and starts.

- PostgreSQL stopped under a bounded stream of requests: every answer is a fast 503 with Retry-After
  and the stable code SERVICE_UNAVAILABLE (never a traceback, never INTERNAL_ERROR), `/readyz` is red,
  `/healthz` stays green; when the database is back the same process serves again by itself.
- Redis stopped: sign-in keeps working with per-process limits (logged, counted), and the shared limits
  come back with Redis.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import (
    LOGIN,
    PASSWORD,
    free_port,
    need_service,
    settings_env,
    start_live_server,
    stop_live_server,
    wait_until,
)
from tests.helpers import unique as unique_name
from tests.private_services import PrivatePostgres, PrivateRedis, postgres_available, redis_server_available

PORTAL = str(Path(sys.executable).parent / "portal")
WRONG = "certainly not the password"


def portal_cli(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run(  # noqa: S603
        [PORTAL, *args], env={**os.environ, **env}, cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def create_account(env: dict[str, str], cwd: Path) -> str:
    login = unique_name("f")
    portal_cli(env, cwd, "accounts", "create", "--email", f"{login}@example.ru", "--login", login,
               "--full-name", "Анна Смирнова", "--password", PASSWORD)
    return login


def sign_in(http: httpx.Client, identifier: str, password: str = PASSWORD) -> httpx.Response:
    return http.post("/graphql", json={"query": LOGIN, "variables": {"identifier": identifier, "password": password}})


def typename(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return response.json()["data"]["login"]["__typename"]


@pytest.fixture
def private_postgres():  # type: ignore[no-untyped-def]
    need_service(postgres_available(), "PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    with PrivatePostgres() as server:
        yield server


@pytest.fixture
def private_redis():  # type: ignore[no-untyped-def]
    need_service(redis_server_available(), "redis-server is not installed")
    with PrivateRedis() as server:
        yield server


def test_database_restart_answers_503_then_recovers_by_itself(settings, private_postgres, tmp_path):
    env = settings_env(settings) | {
        "PORTAL_DATABASE_URL": private_postgres.url,
        "PORTAL_DELIVER_MAIL_IN_PROCESS": "true",  # the delivery loop must outlive the outage too
        "PORTAL_UNAVAILABLE_RETRY_AFTER": "7",
    }
    portal_cli(env, tmp_path, "migrate")
    login = create_account(env, tmp_path)
    server = start_live_server(env, tmp_path)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            signed = sign_in(http, login)
            assert typename(signed) == "LoginSuccess"
            bearer = {"Authorization": "Bearer " + signed.json()["data"]["login"]["session"]["accessToken"]}
            assert http.get("/readyz").status_code == 200

            private_postgres.stop()
            answers = []
            for n in range(24):  # a bounded stream: sign-ins, reads, pages, readiness
                started = time.monotonic()
                if n % 3 == 0:
                    answer = sign_in(http, login)
                elif n % 3 == 1:
                    answer = http.post("/graphql", json={"query": "{ me { id } }"}, headers=bearer)  # a session read
                else:
                    answer = http.get(  # its key moves into a cookie first (a 303), then the page reads the ticket
                        "/support/status", params={"number": "2026-000001", "key": "x" * 20}, follow_redirects=True
                    )
                answers.append((answer, time.monotonic() - started))
            for answer, seconds in answers:
                assert answer.status_code == 503, answer.text
                assert answer.headers["retry-after"] == "7"
                assert seconds < 6, seconds  # fails fast: no hanging on a dead server
                assert "Traceback" not in answer.text and "INTERNAL_ERROR" not in answer.text
                assert answer.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
                assert answer.headers["x-request-id"]
            ready = http.get("/readyz")
            assert ready.status_code == 503 and ready.headers["retry-after"] == "7"
            assert http.get("/healthz").status_code == 200

            private_postgres.start()
            assert wait_until(lambda: http.get("/readyz").status_code == 200, 30), "readiness did not come back"
            assert typename(sign_in(http, login)) == "LoginSuccess"
            assert server.process.poll() is None  # the same process, never restarted
        log = server.log.read_text()
        assert "database unavailable" in log
    finally:
        stop_live_server(server)


def test_redis_outage_degrades_to_per_process_limits_and_back(settings, database, private_redis, tmp_path):
    metrics_port = free_port()
    prefix = f"faults-{unique_name()}:"
    env = settings_env(settings) | {
        "PORTAL_REDIS_URL": private_redis.url,
        "PORTAL_REDIS_KEY_PREFIX": prefix,
        "PORTAL_METRICS_PORT": str(metrics_port),
    }
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    login = create_account(env, tmp_path)
    server = start_live_server(env, tmp_path)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            assert typename(sign_in(http, login)) == "LoginSuccess"
            assert typename(sign_in(http, unique_name("nobody") + "@example.ru", WRONG)) == "InvalidCredentials"
            assert private_redis.keys(prefix + "*"), "the shared store was not used"

            private_redis.stop()
            assert typename(sign_in(http, login)) == "LoginSuccess"  # sign-in survives the outage
            # Limits still hold, per process: the backoff after a few free failures.
            outcomes = [typename(sign_in(http, login, WRONG)) for _ in range(6)]
            assert outcomes[0] == "InvalidCredentials" and "TooManyAttempts" in outcomes, outcomes
            scrape = httpx.get(metrics_url, timeout=10).text
            assert "portal_redis_up 0.0" in scrape
            fallbacks = [line for line in scrape.splitlines() if line.startswith("portal_redis_fallbacks_total ")]
            assert fallbacks and float(fallbacks[0].split()[1]) >= 1

            private_redis.start()  # empty: the shared counters start afresh

            def shared_again() -> bool:
                typename(sign_in(http, unique_name("nobody") + "@example.ru", WRONG))
                return bool(private_redis.keys(prefix + "*"))

            assert wait_until(shared_again, 20), "never went back to Redis"
            assert "portal_redis_up 1.0" in httpx.get(metrics_url, timeout=10).text
        log = server.log.read_text()
        assert "Redis unavailable" in log and "Redis answers again" in log
    finally:
        stop_live_server(server)
