"""Several replicas behind a real load balancer: two `portal serve`, two `portal worker`, HAProxy running
the very `deploy/haproxy.cfg` of the repository, all on loopback, over PostgreSQL and Redis.

Through the balancer: throttling and the sign-in lock are shared; a session revoked on one replica is
refused on the other at once; a burst of letters is delivered while a worker is killed with SIGKILL;
a replica killed with SIGKILL under a steady stream of sign-ins and tickets loses nothing accepted,
duplicates no ticket number, is routed around, and rejoins after a restart.
The balancer's own log names each request's path but never its query string (reset tokens), and a
caller's request id only when it is sane.

The database is a uniquely named one on the shared PostgreSQL (dropped afterwards); Redis is a private
`redis-server`. Clients speak from addresses of their own in 127.0.0.0/8 so that the X-Forwarded-For
chain (HAProxy adds the peer; the replicas trust only 127.0.0.1) names a distinct client each.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from portal.core.tokens import new_token
from portal.identity.signin import SIGNIN_BACKOFF
from tests.helpers import LOGIN, PASSWORD, ROOT, SUBMIT, form, free_port, need_service, unique
from tests.helpers import wait_until as poll
from tests.private_services import PrivateRedis, redis_server_available
from tests.smtp_sink import SmtpSink

PORTAL = str(Path(sys.executable).parent / "portal")
SHARED_POSTGRES = ("127.0.0.1", 5432)
WRONG = "certainly not the password"
ME = "{ me { id } }"
LOGOUT = "mutation { logout { __typename } }"

ENQUEUE_SCRIPT = """
import asyncio, sys
from tortoise.transactions import in_transaction
from portal.api import db
from portal.core.runtime import Runtime
from portal.core.settings import load_settings
from portal.mail.outbox import enqueue

async def main(prefix, count):
    settings = load_settings()
    rt = Runtime(settings)
    await db.connect(settings)
    try:
        async with in_transaction():
            for n in range(count):
                await enqueue(rt, template="password_changed", to=f"{prefix}-{n}@example.ru", lang="ru",
                              context={"full_name": "", "changed_at": rt.clock.now(), "forgot_url": "x"})
    finally:
        await db.disconnect()

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def postgres_reachable() -> bool:
    try:
        with socket.create_connection(SHARED_POSTGRES, timeout=0.5):
            return True
    except OSError:
        return False


def psql(sql: str, database: str = "postgres") -> str:
    done = subprocess.run(  # noqa: S603
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-tAc", sql],  # noqa: S607
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def wait_until(check: Any, seconds: float, pause: float = 0.2) -> bool:
    """A replica that is starting or was just killed refuses connections: that counts as not yet."""
    return poll(check, seconds, pause, ignoring=(httpx.HTTPError,))


class Cluster:
    """The processes of one deployment, each with its log in `workdir`."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = {**os.environ, **env}
        self.app_ports = [free_port(), free_port()]
        self.metrics_ports = [free_port(), free_port()]
        self.lb_port = free_port()
        self.lb_metrics_port = free_port()
        self.url = f"http://127.0.0.1:{self.lb_port}"
        self.replicas: list[subprocess.Popen[bytes] | None] = [None, None]
        self.workers: list[subprocess.Popen[bytes] | None] = [None, None]
        self.haproxy: subprocess.Popen[bytes] | None = None

    def _spawn(self, name: str, args: list[str], extra: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("ab")
        return subprocess.Popen(  # noqa: S603
            args, env={**self.env, **(extra or {})}, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT
        )

    def cli(self, *args: str) -> str:
        done = subprocess.run(  # noqa: S603
            [PORTAL, *args], env=self.env, cwd=self.workdir, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start_replica(self, n: int, wait: bool = True) -> None:
        extra = {"PORTAL_METRICS_PORT": str(self.metrics_ports[n])}
        self.replicas[n] = self._spawn(
            f"serve-{n}", [PORTAL, "serve", "--port", str(self.app_ports[n])], extra
        )
        if wait:
            self.wait_replica(n)

    def wait_replica(self, n: int) -> None:
        url = f"http://127.0.0.1:{self.app_ports[n]}/readyz"
        assert wait_until(lambda: httpx.get(url, timeout=1).status_code == 200, 60), self.tail(f"serve-{n}")

    def kill_replica(self, n: int) -> None:
        process = self.replicas[n]
        assert process is not None
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def start_worker(self, n: int) -> None:
        self.workers[n] = self._spawn(f"worker-{n}", [PORTAL, "worker"])

    def start_haproxy(self) -> None:
        extra = {
            "PORTAL_LB_BIND": f"127.0.0.1:{self.lb_port}",
            "PORTAL_APP1": f"127.0.0.1:{self.app_ports[0]}",
            "PORTAL_APP2": f"127.0.0.1:{self.app_ports[1]}",
            "PORTAL_LB_METRICS_BIND": f"127.0.0.1:{self.lb_metrics_port}",
        }
        haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
        self.haproxy = self._spawn("haproxy", [haproxy, "-db", "-f", str(ROOT / "deploy" / "haproxy.cfg")], extra)
        assert wait_until(lambda: httpx.get(self.url + "/readyz", timeout=1).status_code == 200, 30), self.tail(
            "haproxy"
        )

    def metrics(self, n: int) -> str:
        return httpx.get(f"http://127.0.0.1:{self.metrics_ports[n]}/metrics", timeout=5).text

    def balancer_metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.lb_metrics_port}/metrics", timeout=5).text

    def balancer_log_line(self, request_id: str) -> str:
        """The balancer's log line of the request with this id (written when the request ends)."""
        assert wait_until(lambda: request_id in self.tail("haproxy"), 10), self.tail("haproxy")
        return next(line for line in self.tail("haproxy").splitlines() if request_id in line)

    def tail(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        for process in [self.haproxy, *self.replicas, *self.workers]:
            if process is not None and process.poll() is None:
                process.terminate()
        for process in [self.haproxy, *self.replicas, *self.workers]:
            if process is not None:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()


def client(source: str = "127.0.0.2", url: str | None = None, cluster: Cluster | None = None) -> httpx.Client:
    """A client speaking from its own loopback address (its own X-Forwarded-For identity)."""
    base = url or (cluster.url if cluster else "")
    return httpx.Client(base_url=base, timeout=30, transport=httpx.HTTPTransport(local_address=source))


def sign_in(http: httpx.Client, identifier: str, password: str = PASSWORD) -> httpx.Response:
    return http.post("/graphql", json={"query": LOGIN, "variables": {"identifier": identifier, "password": password}})


def outcome(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return response.json()["data"]["login"]["__typename"]


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            key = line.rsplit(" ", 1)[0]
            if key.split("{")[0] == name:
                total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink(port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, sink: SmtpSink) -> Iterator[Cluster]:
    need_service(shutil.which("haproxy") is not None or Path("/usr/sbin/haproxy").exists(),
                 "HAProxy is not installed (Debian's haproxy)")
    need_service(postgres_reachable() and shutil.which("psql") is not None,
                 "PostgreSQL is not running on 127.0.0.1:5432")
    need_service(redis_server_available(), "redis-server is not installed")
    database = f"portal_replicas_{uuid.uuid4().hex[:10]}"
    psql(f"CREATE DATABASE {database}")
    redis = PrivateRedis().start()
    workdir = tmp_path_factory.mktemp("replicas")
    env = {
        "PORTAL_ENV": "development",
        "PORTAL_DATA_DIR": str(workdir / "data"),
        "PORTAL_DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
        "PORTAL_PUBLIC_URL": "http://127.0.0.1:8000",
        "PORTAL_SECRET_KEY": "replica-test-secret-" + "y" * 32,
        "PORTAL_SMTP_URL": f"smtp://127.0.0.1:{sink.port}",
        "PORTAL_REDIS_URL": redis.url,
        "PORTAL_TRUSTED_PROXIES": "127.0.0.1",
        "PORTAL_DELIVER_MAIL_IN_PROCESS": "false",
        "PORTAL_MAIL_LEASE_SECONDS": "5",
        "PORTAL_LOG_FORMAT": "json",
    }
    deployment = Cluster(workdir, env)
    try:
        deployment.cli("migrate")
        for n in (0, 1):
            deployment.start_replica(n, wait=False)
            deployment.start_worker(n)
        for n in (0, 1):
            deployment.wait_replica(n)
        deployment.start_haproxy()
        yield deployment
    finally:
        deployment.stop()
        redis.stop()
        psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


@pytest.fixture(scope="module")
def account(cluster: Cluster) -> str:
    login = unique("rep")
    cluster.cli("accounts", "create", "--email", f"{login}@example.ru", "--login", login,
                "--full-name", "Ольга Кузнецова", "--password", PASSWORD)
    return login


def test_throttling_and_the_sign_in_lock_are_shared_across_replicas(cluster):
    login = unique("lock")
    cluster.cli("accounts", "create", "--email", f"{login}@example.ru", "--login", login,
                "--full-name", "Ольга Кузнецова", "--password", PASSWORD)
    before = [metric(cluster.metrics(n), "portal_signins_total") for n in (0, 1)]
    free = sum(1 for delay in SIGNIN_BACKOFF.delays if delay == 0)
    # Each guess from another address: the count is the account's, kept in Redis, whichever replica answers.
    answers = []
    for n in range(free + 3):
        with client(f"127.0.2.{n + 1}", cluster=cluster) as http:
            answers.append(outcome(sign_in(http, login, WRONG)))
    # One shared count: exactly `free + 1` failures go through before the wait, not that many per replica.
    assert answers[: free + 1] == ["InvalidCredentials"] * (free + 1), answers
    assert answers[free + 1:] == ["TooManyAttempts"] * 2, answers
    with client("127.0.2.99", cluster=cluster) as http:
        assert outcome(sign_in(http, login)) == "TooManyAttempts"  # even the right password waits
    after = [metric(cluster.metrics(n), "portal_signins_total") for n in (0, 1)]
    assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)  # both replicas answered


def test_a_session_revoked_on_one_replica_is_refused_on_the_other(cluster, account):
    """With each replica serving sessions from its own cache (core/session_cache.py): the other replica
    refuses at once, on its very next request, with no wait in between."""
    with client("127.0.3.1", cluster=cluster) as http:
        session = sign_in(http, account).json()["data"]["login"]["session"]
    auth = {"Authorization": f"Bearer {session['accessToken']}"}
    first, second = (client("127.0.3.2", url=f"http://127.0.0.1:{port}") for port in cluster.app_ports)
    with first, second:
        for replica in (first, second, first, second):  # the second read of each is served from its cache
            assert replica.post("/graphql", json={"query": ME}, headers=auth).json()["data"]["me"] is not None
        assert [metric(cluster.metrics(n), "portal_session_cache_on") for n in (0, 1)] == [1, 1]
        out = first.post("/graphql", json={"query": LOGOUT}, headers=auth).json()
        assert out["data"]["logout"]["__typename"] == "LoggedOut"
        assert second.post("/graphql", json={"query": ME}, headers=auth).json()["data"]["me"] is None  # at once
    with client("127.0.3.3", cluster=cluster) as http:
        for _ in range(4):  # through the balancer, whichever replica answers
            assert http.post("/graphql", json={"query": ME}, headers=auth).json()["data"]["me"] is None


def test_any_writer_of_an_account_reaches_every_replica_cache_at_once(cluster):
    """An operator's SQL and another process (`portal accounts disable`) write past both replicas: the
    database's triggers tell them, so neither serves what it had read before."""
    login = unique("cached")
    cluster.cli("accounts", "create", "--login", login, "--full-name", "Ольга Кузнецова", "--password", PASSWORD)
    with client("127.0.3.4", cluster=cluster) as http:
        token = sign_in(http, login).json()["data"]["login"]["session"]["accessToken"]
    auth = {"Authorization": f"Bearer {token}"}
    query = {"query": "{ me { fullName } }"}
    replicas = [client("127.0.3.5", url=f"http://127.0.0.1:{port}") for port in cluster.app_ports]
    try:
        for replica in replicas * 2:
            assert replica.post("/graphql", json=query, headers=auth).json()["data"]["me"]["fullName"] == "Ольга Кузнецова"
        psql(f"UPDATE accounts SET full_name = 'Ольга Смирнова' WHERE login = '{login}'", cluster.env["PORTAL_DATABASE_URL"].rsplit("/", 1)[1])
        for replica in replicas:
            assert replica.post("/graphql", json=query, headers=auth).json()["data"]["me"]["fullName"] == "Ольга Смирнова"
        cluster.cli("accounts", "disable", login, "--reason", "the resident asked")
        for replica in replicas:
            assert replica.post("/graphql", json=query, headers=auth).json()["data"]["me"] is None
    finally:
        for replica in replicas:
            replica.close()


def test_a_burst_of_letters_is_delivered_while_a_worker_is_killed(cluster, sink):
    prefix = unique("burst")
    count = 300
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", ENQUEUE_SCRIPT, prefix, str(count)], env=cluster.env, cwd=cluster.workdir,
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr

    def delivered() -> list[tuple[str, str]]:
        return [(to, letter.message["Message-ID"]) for letter in list(sink.letters)
                for to in letter.rcpt_tos if to.startswith(prefix)]

    assert wait_until(lambda: len(delivered()) >= 20, 60, pause=0.01), "delivery did not start"
    victim = cluster.workers[0]
    assert victim is not None
    victim.send_signal(signal.SIGKILL)  # mid-batch: its claimed rows wait out their 5-s lease
    victim.wait(timeout=10)
    assert wait_until(lambda: len({to for to, _ in delivered()}) == count, 90), (
        f"{len({to for to, _ in delivered()})} of {count} delivered\n{cluster.tail('worker-1')}"
    )
    time.sleep(1)
    letters = delivered()
    per_recipient = Counter(to for to, _ in letters)
    assert set(per_recipient) == {f"{prefix}-{n}@example.ru" for n in range(count)}
    # Exactly once, but for at most the one letter in flight when the worker died (sent, not yet recorded):
    # its second copy carries the same Message-ID, so mail systems keep one (docs/operations.md).
    twice = [to for to, seen in per_recipient.items() if seen > 1]
    assert len(twice) <= 1 and all(per_recipient[to] == 2 for to in twice), per_recipient.most_common(3)
    for to in twice:
        assert len({mid for rcpt, mid in letters if rcpt == to}) == 1
    cluster.start_worker(0)


def test_a_replica_killed_under_load_loses_nothing_and_rejoins(cluster, account):
    stop = threading.Event()
    results: list[tuple[float, str, int, Any]] = []
    started = time.monotonic()

    def stream() -> None:
        clients: dict[str, httpx.Client] = {}
        try:
            for n in range(2000):  # bounded in count and in time
                if stop.is_set() or time.monotonic() - started > 100:
                    return
                if n % 2 == 0:
                    source = "127.0.4.1"
                    body = {"query": LOGIN, "variables": {"identifier": account, "password": PASSWORD}}
                    kind = "login"
                else:
                    source = f"127.0.5.{n // 16 + 1}"  # at most 8 tickets per address (the limit is 10 an hour)
                    values = form(idempotencyKey=uuid.uuid4().hex)
                    body = {"query": SUBMIT, "variables": {"input": values}}
                    kind = "ticket"
                http = clients.setdefault(source, client(source, cluster=cluster))
                try:
                    answer = http.post("/graphql", json=body)
                    payload = answer.json() if answer.status_code == 200 else None
                    results.append((time.monotonic() - started, kind, answer.status_code, payload))
                except httpx.HTTPError as exc:
                    results.append((time.monotonic() - started, kind, 0, str(exc)))
        finally:
            for http in clients.values():
                http.close()

    def balancer(name: str, **labels: str) -> float:
        return metric(cluster.balancer_metrics(), name, proxy="portal", server="app1", **labels)

    went_down = balancer("haproxy_server_check_up_down_total")
    redispatched = balancer("haproxy_server_redispatch_warnings_total")
    runner = threading.Thread(target=stream)
    runner.start()
    try:
        assert wait_until(lambda: len(results) >= 20, 30, pause=0.05)
        killed_at = time.monotonic() - started
        cluster.kill_replica(0)
        time.sleep(4)
        before_restart = time.monotonic() - started
        cluster.start_replica(0)  # waits for its /readyz
        restarted_at = time.monotonic() - started
        # Rejoined: the balancer sends it requests again (its fresh counters move).
        assert wait_until(lambda: metric(cluster.metrics(0), "portal_http_requests_total", route="/graphql") > 0,
                          15), f"the restarted replica got no requests (stream alive: {runner.is_alive()})"
    finally:
        stop.set()
        runner.join(timeout=60)

    failed = [r for r in results if r[2] != 200]
    # Only what was in flight on the dying replica may fail; the balancer routes around it at once.
    assert len(failed) <= 4, (failed, cluster.tail("haproxy"))
    settled = [r for r in results if killed_at + 2.5 < r[0] < before_restart]
    assert settled and all(r[2] == 200 for r in settled), (settled, cluster.tail("haproxy"))
    assert any(r[0] > restarted_at for r in results)
    logins = [r for r in results if r[1] == "login" and r[2] == 200]
    assert logins and all(r[3]["data"]["login"]["__typename"] == "LoginSuccess" for r in logins)
    tickets = [r[3]["data"]["submitSupportTicket"] for r in results if r[1] == "ticket" and r[2] == 200]
    accepted = [t["ticket"]["number"] for t in tickets if t["__typename"] == "SupportTicketSubmitted"]
    assert len(accepted) >= 10
    assert len(set(accepted)) == len(accepted), "a ticket number was given twice"
    database = cluster.env["PORTAL_DATABASE_URL"].rsplit("/", 1)[1]
    numbers = ",".join(f"'{n}'" for n in accepted)
    stored = psql(f"SELECT count(DISTINCT number) FROM support_tickets WHERE number IN ({numbers})", database)
    assert int(stored) == len(accepted), "an accepted ticket is missing from the database"
    # What an operator sees on the balancer's own metrics: the replica went down once, requests that met
    # its refused connections were sent elsewhere, and it is back.
    assert balancer("haproxy_server_check_up_down_total") == went_down + 1
    assert balancer("haproxy_server_redispatch_warnings_total") > redispatched
    assert wait_until(lambda: balancer("haproxy_server_status", state="UP") == 1, 10)


def test_the_balancer_logs_each_request_without_its_query_string(cluster):
    """docs/security.md #51 at the balancer: a mailed link's token never reaches HAProxy's log."""
    token = new_token()
    request_id = uuid.uuid4().hex
    with client("127.0.6.1", cluster=cluster) as http:
        http.get("/reset-password", params={"token": token}, headers={"X-Request-ID": request_id})
    line = cluster.balancer_log_line(request_id)
    assert '"GET" "/reset-password"' in line
    assert token not in cluster.tail("haproxy") and "token=" not in line


@pytest.mark.parametrize("offered", [b'ab"c] d\x01e', b"x" * 65, b"one\r\nX-Request-ID: two"])
def test_the_balancer_keeps_only_a_sane_request_id_of_the_callers(cluster, offered):
    """A caller's X-Request-ID reaches the balancer's log line and every replica's: only one the portal
    itself would accept is kept, anything else is replaced before it is written anywhere."""
    host, port = cluster.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10, source_address=("127.0.6.2", 0)) as raw:
        raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: portal\r\nX-Request-ID: " + offered
                    + b"\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    assert head.startswith("http/1.1 200"), head
    given = next(line.split(":", 1)[1].strip() for line in head.split("\r\n") if line.startswith("x-request-id:"))
    assert re.fullmatch(r"[0-9a-f-]{36}", given), given  # HAProxy's own uuid(), not the caller's
    line = cluster.balancer_log_line(given)
    assert line.isprintable() and f'"{given}" "GET" "/healthz"' in line, line
