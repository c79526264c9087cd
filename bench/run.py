"""One benchmark pass on one database: seed, baselines, the real server, the figures."""

from __future__ import annotations

import dataclasses
import json
import operator
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import wrk
from bench.ports import free_port
from bench.report import Row, Target
from bench.seed import email

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PORTAL = str(Path(sys.executable).parent / "portal")
PASSWORD = "Bench-password 9f3k2q"
SECRET = "bench-secret-key-" + "s" * 40
TASKSET = shutil.which("taskset") or "taskset"
SERVER_CORE = "0"
ROUNDS = 3  # baseline and figure alternate this many times
LIVE: list[Server] = []
LOAD_CORE = "1"
# What a baseline's rounds are compared by: throughput per server CPU second, wall-clock throughput, latency.
PER_CPU: Callable[[wrk.Result], float] = operator.attrgetter("ok_per_cpu_second")
PER_SECOND: Callable[[wrk.Result], float] = operator.attrgetter("ok_per_second")
P50: Callable[[wrk.Result], float] = operator.attrgetter("p50_ms")
# Failed sign-ins (#13): each account or unknown identifier takes at most 4 wrong attempts, the free ones of
# identity.signin's backoff; the throttle is left as it is. Separate ranges, never the login figure's accounts.
WRONG_START, DISABLED_START, UNKNOWN_START = 2_000_000, 3_000_000, 4_000_000  # UNKNOWN_START's are never seeded
FAILURE_RATE_CAP = 100  # answers/s one connection is assumed never to exceed; wrk wraps a list at most 4 times at 4x
WRONG_PASSWORD = "Not the bench password 4k9w"

LOGIN = (
    "mutation Login($i: String!, $p: String!) { login(identifier: $i, password: $p) { __typename "
    "... on LoginSuccess { session { accessToken account { id } } } ... on Error { message } } }"
)
ME = "query Me { me { id fullName email role } }"
REQUEST_RESET = (
    "mutation Forgot($i: String!) { requestPasswordReset(identifier: $i) { __typename ... on Error { message } } }"
)
RESET = (
    "mutation Reset($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p, "
    "newPasswordConfirmation: $p) { __typename ... on Error { message } } }"
)
TICKET = (
    "mutation Ticket($input: SupportTicketInput!) { submitSupportTicket(input: $input) { __typename "
    "... on SupportTicketSubmitted { ticket { number } } ... on Error { message } } }"
)


def naming_refused_fields(document: str) -> str:
    """The same document, also asking which fields a `ValidationError` refused: a floor figure's answer (below)
    must name the one field it was built to fail, and nothing else."""
    return document.replace("... on Error", "... on ValidationError { fields { field code } } ... on Error")


REQUEST_RESET_REFUSED, TICKET_REFUSED = naming_refused_fields(REQUEST_RESET), naming_refused_fields(TICKET)
RESET_REFUSED_ANSWER = '"fields":[{"field":"identifier","code":"INVALID_CHARACTERS"}]'
TICKET_REFUSED_ANSWER = '"fields":[{"field":"personalDataConsent","code":"CONSENT_REQUIRED"}]'


def body(query: str, variables: dict[str, object] | None = None) -> str:
    return json.dumps({"query": query, "variables": variables or {}}, ensure_ascii=False)


def address(i: int) -> str:
    """A client behind the proxy, from the range set aside for benchmarks (RFC 2544): never a target."""
    return f"198.18.{(i // 250) % 256}.{i % 250 + 1}"


@dataclass
class Database:
    name: str  # "SQLite" | "PostgreSQL"
    url: str
    cleanup: Callable[[], None] = lambda: None

    @property
    def postgres(self) -> bool:
        return self.name == "PostgreSQL"


def plain_requests() -> list[wrk.Request]:
    """For the plain JSON baseline (`bench.baseline`'s `/plain`): `me`'s body and a bearer token it never reads."""
    return [wrk.Request(address(i), body(ME), "x" * 43) for i in range(1000)]


def insert_requests() -> list[wrk.Request]:
    """For the bare-insert baseline (`bench.baseline`'s `/insert`)."""
    return [wrk.Request(address(i), body("mutation { insert }")) for i in range(1000)]


def me_requests(tokens: list[str]) -> list[wrk.Request]:
    """`me` from 1,000 client addresses, signed in with `tokens` in turn."""
    return [wrk.Request(address(i), body(ME), tokens[i % len(tokens)]) for i in range(1000)]


def known_reset_requests(count: int) -> list[wrk.Request]:
    """`requestPasswordReset` for the first `count` seeded accounts, each from its own client address."""
    return [wrk.Request(address(i), body(REQUEST_RESET, {"i": email(i)})) for i in range(count)]


def refused_reset_requests(count: int) -> list[wrk.Request]:
    """`requestPasswordReset` for seeded accounts' addresses with a control character at the end: refused
    (`RESET_REFUSED_ANSWER`) before the throttle and the account's lookup."""
    return [wrk.Request(address(i), body(REQUEST_RESET_REFUSED, {"i": email(i) + "\u0001"})) for i in range(count)]


def ticket_requests(count: int = 2000, *, consent: bool = True) -> list[wrk.Request]:
    """Support tickets as residents file them, each from its own client address. With `consent=False` every
    field is valid but the consent: the ticket is refused (`TICKET_REFUSED_ANSWER`) once validation is done, before
    any write."""
    requests = []
    for i in range(count):
        ticket = {
            "fullName": f"Житель {i}",
            "registrationAddress": f"ул. Ленина, д. {i % 200 + 1}, кв. {i % 90 + 1}",
            "phone": f"+7912{i:07d}",
            "accountIdentifier": email(i),
            "replyEmail": email(i),
            "category": "ACCOUNT_ACCESS",
            "description": "Не могу войти в личный кабинет после смены номера телефона.",
            "personalDataConsent": consent,
        }
        requests.append(wrk.Request(address(i), body(TICKET if consent else TICKET_REFUSED, {"input": ticket})))
    return requests


def unwind_on_sigterm() -> None:
    """A `kill` (SIGTERM) of a benchmark unwinds it like Ctrl-C: every `with` stops its server and `wrk` is
    killed by `subprocess.run`, instead of leaving them running and loading the machine."""
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))


def process_tree(pid: int) -> list[int]:
    """A process and all its descendants (uvicorn's supervisor and workers), from /proc."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
        found.append(current)
    return found


def _cpu_of(stat: Path) -> float | None:
    """User and system CPU seconds from a `/proc/…/stat` file; None when the process or thread is gone."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and all its descendants (uvicorn's workers), from /proc."""
    return sum(_cpu_of(Path(f"/proc/{current}/stat")) or 0.0 for current in process_tree(pid))


def thread_cpu(pid: int) -> dict[int, float]:
    """User and system CPU time of each thread of one process (a single-worker server), from /proc."""
    found = {int(task.name): _cpu_of(task / "stat") for task in Path(f"/proc/{pid}/task").iterdir()}
    return {tid: cpu for tid, cpu in found.items() if cpu is not None}


@dataclass(frozen=True)
class Resident:
    """VmRSS (now) and VmHWM (the peak since the process started) of each process of a server, in KiB."""

    rss_kib: tuple[int, ...]
    hwm_kib: tuple[int, ...]

    @property
    def rss_mib(self) -> float:
        return sum(self.rss_kib) / 1024

    @property
    def hwm_mib(self) -> float:
        """Every process's own peak, summed: an upper bound when the peaks fell at different moments."""
        return sum(self.hwm_kib) / 1024

    def per_process(self) -> str:
        return " + ".join(f"{kib / 1024:.0f}" for kib in self.rss_kib)


def resident(pid: int) -> Resident:
    """The resident set of a server: each of its processes' VmRSS and VmHWM, from /proc/<pid>/status."""
    rss, hwm = [], []
    for current in process_tree(pid):
        try:
            lines = Path(f"/proc/{current}/status").read_text().splitlines()
            status = dict(line.split(":", 1) for line in lines if ":" in line)
            rss.append(int(status["VmRSS"].split()[0]))
            hwm.append(int(status["VmHWM"].split()[0]))
        except (OSError, KeyError, ValueError, IndexError):
            continue
    return Resident(tuple(rss), tuple(hwm))


def core_count(cores: str) -> int:
    """How many cores a `taskset -c` list names ("0", "0,1", "0-3")."""
    count = 0
    for part in cores.split(","):
        first, _, last = part.partition("-")
        count += int(last or first) - int(first) + 1
    return count


def hash_memory_bound(env: dict[str, str], cores: str, workers: int) -> tuple[float, str]:
    """The most Argon2 memory a server can hold at once (MiB, and how): m × hashes at once × workers.

    Each worker computes at most PORTAL_HASH_CONCURRENCY hashes at a time, by default one per core it may
    run on (`core.hashing.usable_cores`: the `taskset` list), each holding PORTAL_ARGON2_MEMORY_KIB.
    """
    from portal.core.settings import Settings

    memory_kib = int(env.get("PORTAL_ARGON2_MEMORY_KIB") or Settings.model_fields["argon2_memory_kib"].default)
    at_once = int(env.get("PORTAL_HASH_CONCURRENCY") or 0) or core_count(cores)
    hashes = f"{at_once} hash{'es' if at_once > 1 else ''} at once"
    how = f"{memory_kib:,} KiB × {hashes}" + (f" × {workers} workers" if workers > 1 else "")
    return memory_kib * at_once * workers / 1024, how


class Server:
    """A process serving HTTP on loopback, pinned with `taskset`; stopped by its own pid."""

    def __init__(self, argv: list[str], env: dict[str, str], workdir: Path, cores: str, health: str | None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"server-{self.port}.log"
        env = {**env, "PORTAL_PUBLIC_URL": self.url}
        argv = [a.replace("{port}", str(self.port)) for a in argv]
        self.process = subprocess.Popen(  # noqa: S603
            [TASKSET, "-c", cores, *argv], env=env, cwd=workdir, stdout=self.log.open("wb"), stderr=subprocess.STDOUT
        )
        self._wait(health)
        LIVE.append(self)

    def _wait(self, health: str | None) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                if health is None:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        return
                elif httpx.get(self.url + health, timeout=2).status_code == 200:
                    return
            except (OSError, httpx.HTTPError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self in LIVE:
            LIVE.remove(self)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@dataclass
class Pass:
    """Everything measured on one database; rows are built from it at the end."""

    db: Database
    workdir: Path
    seconds: float
    accounts: int
    million: bool
    mutations: set[str]
    log: Callable[[str], None]
    results: dict[str, wrk.Result] = field(default_factory=dict)
    history: dict[str, list[wrk.Result]] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)
    stored_hash: str = ""
    tokens: list[str] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)
    memory: dict[str, Resident] = field(default_factory=dict)
    shares: dict[str, list[float]] = field(default_factory=dict)  # Argon2's share of a core, per sample
    # Per figure: CPU seconds of the event loop's thread, of the busiest other thread, of the rest; and answers.
    threads: dict[str, list[tuple[float, float, float, int]]] = field(default_factory=dict)

    # -- environment ------------------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
        return {
            **base,
            "PYTHONPATH": str(ROOT),
            "PORTAL_ENV": "production",
            "PORTAL_DATABASE_URL": self.db.url,
            "PORTAL_DATA_DIR": str(self.workdir / "data"),
            "PORTAL_SECRET_KEY": SECRET,
            "PORTAL_TRUSTED_PROXIES": "127.0.0.1",
            # Production delivers mail from `portal worker`; the request path only writes the outbox row.
            "PORTAL_DELIVER_MAIL_IN_PROCESS": "false",
            **self.extra_env,
        }

    def portal(self, workers: int = 1, cores: str = SERVER_CORE) -> Server:
        argv = [PORTAL, "serve", "--host", "127.0.0.1", "--port", "{port}", "--workers", str(workers)]
        server = Server(argv, self.env(), self.workdir, cores, "/readyz")
        if workers > 1:
            time.sleep(2.0)  # the supervisor binds first; let every worker finish its start-up
        return server

    def baseline_server(self) -> Server:
        return Server(
            [PYTHON, "-m", "bench.baseline", "serve", "--port", "{port}"], self.env(), self.workdir, SERVER_CORE, None
        )

    def python(self, *args: str, stdin: str = "") -> str:
        done = subprocess.run(  # noqa: S603
            [PYTHON, *args], input=stdin, env=self.env(), cwd=self.workdir, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def drive(
        self,
        name: str,
        url: str,
        requests: list[wrk.Request],
        expect: str,
        connections: int,
        seconds: float | None = None,
    ) -> wrk.Result:
        pid = next((srv.process.pid for srv in LIVE if url.startswith(srv.url + "/")), None)
        cpu_before = cpu_seconds(pid) if pid else 0.0
        threads_before = thread_cpu(pid) if pid else {}
        result = wrk.run(
            url,
            requests,
            expect,
            workdir=self.workdir,
            connections=connections,
            seconds=seconds or self.seconds,
            cores=LOAD_CORE,
        )
        if pid:
            result = dataclasses.replace(result, cpu_seconds=cpu_seconds(pid) - cpu_before)
            spent = {tid: cpu - threads_before.get(tid, 0.0) for tid, cpu in thread_cpu(pid).items()}
            others = sorted((cpu for tid, cpu in spent.items() if tid != pid), reverse=True) or [0.0]
            self.threads.setdefault(name, []).append((spent.get(pid, 0.0), others[0], sum(others[1:]), result.ok))
        self.results[name] = result
        self.history.setdefault(name, []).append(result)
        state = (
            ""
            if result.clean
            else f"  ({result.bad} wrong answers, {result.socket_errors} socket errors: {result.sample[:200]})"
        )
        self.log(
            f"  {name}: {result.ok_per_second:,.1f} ok/s ({result.ok_per_cpu_second:,.1f} per server CPU-s), "
            f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms{state}"
        )
        return result

    # -- the steps --------------------------------------------------------------------------------------
    def seed(self, failures: bool = True) -> None:
        self.log(f"{self.db.name}: migrating and seeding {self.accounts} accounts (one precomputed hash)")
        out = self.python(
            "-m", "bench.seed", "--count", str(self.accounts), "--migrate", "--analyze", stdin=PASSWORD + "\n"
        )
        self.stored_hash = out.strip().splitlines()[-1]
        if not failures:
            return
        count = self.failure_accounts()
        self.log(f"  and {count} more for wrong passwords, {count} disabled (each tried at most 4 times)")
        for start, flags in ((WRONG_START, []), (DISABLED_START, ["--disabled"])):
            self.python(
                "-m", "bench.seed", "--start", str(start), "--count", str(count), "--analyze", *flags,
                stdin=PASSWORD + "\n",
            )

    def failure_run_seconds(self) -> int:
        return max(1, round(max(2.0, self.seconds / ROUNDS)))

    def failure_accounts(self) -> int:
        """Accounts per kind of failure: a fresh slice for every round, sized so no account passes 4 attempts."""
        return ROUNDS * FAILURE_RATE_CAP * self.failure_run_seconds()

    def argon2(self, op: str, seconds: float = 4.0) -> None:
        """Argon2 on the server's core (the server idle meanwhile); every sample is kept and averaged."""
        out = subprocess.run(  # noqa: S603
            [TASKSET, "-c", SERVER_CORE, PYTHON, "-m", "bench.baseline", "argon2", op, "--seconds", str(seconds)],
            input=f"{self.stored_hash}\n{PASSWORD}\n",
            env=self.env(),
            cwd=self.workdir,
            capture_output=True,
            text=True,
            check=True,
        )
        measured = json.loads(out.stdout)
        rate = measured["per_second"]
        self.samples.setdefault(f"argon2_{op}", []).append(rate)
        self.shares.setdefault(f"argon2_{op}", []).append(measured["cpu_share"])
        self.rates[f"argon2_{op}"] = sum(self.samples[f"argon2_{op}"]) / len(self.samples[f"argon2_{op}"])
        self.log(f"  Argon2 {op} on one core: {rate:.1f}/s")

    def alternate(self, *steps: Callable[[], object]) -> None:
        """Runs baseline and figure in turn, ROUNDS times: a neighbour's burst of work falls on both alike."""
        for _ in range(ROUNDS):
            for step in steps:
                step()

    def combine(self, *names: str) -> None:
        """The result of several rounds: successes over time summed, latencies averaged."""
        for name in names:
            runs = self.history.get(name, [])
            if runs:
                self.results[name] = wrk.Result(
                    seconds=sum(r.seconds for r in runs),
                    requests=sum(r.requests for r in runs),
                    ok=sum(r.ok for r in runs),
                    bad=sum(r.bad for r in runs),
                    socket_errors=sum(r.socket_errors for r in runs),
                    p50_ms=sum(r.p50_ms for r in runs) / len(runs),
                    p90_ms=sum(r.p90_ms for r in runs) / len(runs),
                    p99_ms=max(r.p99_ms for r in runs),
                    sample=next((r.sample for r in runs if r.sample), ""),
                    cpu_seconds=sum(r.cpu_seconds for r in runs),
                )

    def at_rest(self, name: str, server: Server, path: str) -> Resident:
        """The server's resident set after its start-up and one request (one answered `me`-shaped query)."""
        httpx.post(server.url + path, content=body(ME), headers={"X-Forwarded-For": address(0)}, timeout=30)
        self.memory[f"{name}_rest"] = resident(server.process.pid)
        return self.memory[f"{name}_rest"]

    def under_load(self, name: str, server: Server) -> Resident:
        """The resident set after a load, with each process's peak (VmHWM) during it."""
        self.memory[f"{name}_load"] = resident(server.process.pid)
        return self.memory[f"{name}_load"]

    def login_requests(self, count: int | None = None) -> list[wrk.Request]:
        n = count or self.accounts
        return [wrk.Request(address(i), body(LOGIN, {"i": email(i), "p": PASSWORD})) for i in range(n)]

    def sign_in(self, server: Server, count: int) -> list[str]:
        tokens = []
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for i in range(count):
                r = client.post(
                    "/graphql",
                    json={"query": LOGIN, "variables": {"i": email(i), "p": PASSWORD}},
                    headers={"X-Forwarded-For": address(10_000 + i)},
                )
                data = r.json()["data"]["login"]
                if data["__typename"] != "LoginSuccess":
                    raise RuntimeError(f"sign-in for the benchmark failed: {r.text}")
                tokens.append(data["session"]["accessToken"])
        return tokens

    def portal_figures(self) -> None:
        self.log(
            f"{self.db.name}: portal serve (one worker) and the baseline app, both on core {SERVER_CORE} "
            f"(one idle while the other is driven); wrk on core {LOAD_CORE}; {ROUNDS} alternating rounds"
        )
        t = max(2.0, self.seconds / ROUNDS)
        plain, insert = plain_requests(), insert_requests()
        login = self.login_requests()
        ok_login = '"__typename":"LoginSuccess"'
        with self.baseline_server() as base, self.portal() as server:
            url = server.url + "/graphql"
            self.at_rest("baseline", base, "/plain")
            self.at_rest("portal", server, "/graphql")
            tokens = self.sign_in(server, 20)
            me = me_requests(tokens)
            self.alternate(lambda: self.argon2("verify", t), lambda: self.drive("login", url, login, ok_login, 8, t))
            self.under_load("portal", server)
            self.alternate(
                lambda: self.drive("plain", base.url + "/plain", plain, '"me":{"id":"', 32, t),
                lambda: self.drive("me", url, me, '"me":{"id":"', 32, t),
                lambda: self.drive("session", base.url + "/session", me, '"me":{"id":"', 32, t),
            )
            self.under_load("baseline", base)
            if self.db.postgres:
                self.drive("login_c1_small", url, login, ok_login, 1)
            self.login_failures(url)
            insert_step = lambda: self.drive("insert", base.url + "/insert", insert, '"inserted":', 32, t)  # noqa: E731
            if "requestPasswordReset" in self.mutations:
                self.reset_requests(url, insert_step, t)
            if "submitSupportTicket" in self.mutations:
                self.tickets(url, insert_step, t)
            if not self.history.get("insert"):
                self.alternate(insert_step)
        self.combine(
            "login", "plain", "me", "session", "insert", "reset_request", "reset_refused", "ticket", "ticket_refused"
        )

    def reset_requests(self, url: str, insert_step: Callable[[], object], t: float) -> None:
        known = known_reset_requests(self.accounts)
        unknown = [
            wrk.Request(address(i), body(REQUEST_RESET, {"i": f"nobody{i}@example.com"})) for i in range(self.accounts)
        ]
        expect = '"__typename":"PasswordResetRequested"'
        self.alternate(  # one request at a time: the latency an attacker would time
            lambda: self.drive("reset_known_c1", url, known, expect, 1, t / 2),
            lambda: self.drive("reset_unknown_c1", url, unknown, expect, 1, t / 2),
        )
        # The floor (reported, not judged): an identifier with a control character goes through HTTP, the edge and
        # GraphQL and is refused before the throttle and the account's lookup. A reset request does all of it too.
        refused = refused_reset_requests(self.accounts)
        # Every answer waits out the service's 50 ms floor: enough connections keep the core busy meanwhile.
        self.alternate(
            insert_step,
            lambda: self.drive("reset_request", url, known, expect, 128, t),
            lambda: self.drive("reset_refused", url, refused, RESET_REFUSED_ANSWER, 32, t),
        )

    def login_failures(self, url: str) -> None:
        """Wrong password, disabled account, unknown identifier: one connection, interleaved, all InvalidCredentials."""
        seconds = self.failure_run_seconds()
        per_run = FAILURE_RATE_CAP * seconds
        expect = '"__typename":"InvalidCredentials"'

        def step(name: str, start: int, client_base: int) -> Callable[[], object]:
            rounds = iter(range(ROUNDS))

            def go() -> object:
                first = next(rounds) * per_run  # a fresh slice of accounts and client addresses every round
                requests = [
                    wrk.Request(
                        address(client_base + first + i),
                        body(LOGIN, {"i": email(start + first + i), "p": WRONG_PASSWORD}),
                    )
                    for i in range(per_run)
                ]
                return self.drive(name, url, requests, expect, 1, seconds)

            return go

        self.alternate(
            step("login_wrong_c1", WRONG_START, 20_000),
            step("login_unknown_c1", UNKNOWN_START, 30_000),
            step("login_disabled_c1", DISABLED_START, 40_000),
        )

    def tickets(self, url: str, insert_step: Callable[[], object], t: float) -> None:
        requests, ok = ticket_requests(), '"__typename":"SupportTicketSubmitted"'
        # The floor (reported, not judged): the same tickets without consent go through HTTP, the edge, GraphQL
        # and all eight fields' validation, then are refused before any write. A filed ticket does all of it too.
        refused = ticket_requests(consent=False)
        self.alternate(
            insert_step,
            lambda: self.drive("ticket", url, requests, ok, 32, t),
            lambda: self.drive("ticket_refused", url, refused, TICKET_REFUSED_ANSWER, 32, t),
        )

    def reset_passwords(self) -> None:
        """Needs one unused reset token per request: written before the server starts (bench.tokens)."""
        out = self.python("-m", "bench.tokens", "--count", str(self.accounts))
        tokens = out.split()
        requests = [
            wrk.Request(address(i), body(RESET, {"t": t, "p": f"Новый пароль {i} для проверки"}))
            for i, t in enumerate(tokens)
        ]
        t = max(2.0, self.seconds / ROUNDS)
        ok = '"__typename":"PasswordResetSucceeded"'
        with self.portal() as server:
            url = server.url + "/graphql"
            # Each round replays only tokens not yet spent.
            rounds = iter(range(ROUNDS))
            step = max(1, len(requests) // ROUNDS)
            self.alternate(
                lambda: self.argon2("hash", t),
                lambda: self.drive("reset_password", url, requests[step * next(rounds) :], ok, 8, t),
            )
        self.combine("reset_password")

    def two_workers(self) -> None:
        self.log(
            f"{self.db.name}: portal serve --workers 2 on cores 0,1 against one worker on core {SERVER_CORE} "
            f"(wrk shares core {LOAD_CORE}); {ROUNDS} alternating rounds"
        )
        t = max(2.0, self.seconds / ROUNDS)
        login = self.login_requests()
        ok = '"__typename":"LoginSuccess"'
        with self.portal() as one, self.portal(workers=2, cores="0,1") as two:
            self.at_rest("two_workers", two, "/graphql")
            self.alternate(
                lambda: self.drive("login_1w", one.url + "/graphql", login, ok, 8, t),
                lambda: self.drive("login_2w", two.url + "/graphql", login, ok, 16, t),
            )
            self.under_load("two_workers", two)
        self.combine("login_1w", "login_2w")

    def million_accounts(self) -> None:
        extra = 1_000_000 - self.accounts
        self.log(f"{self.db.name}: bulk-loading {extra:,} more accounts with COPY (one precomputed hash)")
        began = time.perf_counter()
        self.python(
            "-m", "bench.seed", "--start", str(self.accounts), "--count", str(extra), "--analyze", stdin=PASSWORD + "\n"
        )
        self.log(f"  loaded in {time.perf_counter() - began:.0f} s")
        with self.portal() as server:
            self.drive(
                "login_c1_million", server.url + "/graphql", self.login_requests(), '"__typename":"LoginSuccess"', 1
            )

    def run(self) -> None:
        self.seed()
        self.portal_figures()
        self.two_workers()
        if self.db.postgres and self.million:
            self.million_accounts()
        if "resetPassword" in self.mutations:
            self.reset_passwords()  # last: it changes the accounts' passwords

    # -- the figures ------------------------------------------------------------------------------------
    def spread(self, name: str, by: Callable[[wrk.Result], float]) -> float | None:
        """How far a baseline moved between its rounds: (largest - smallest) / smallest."""
        values = [v for v in (self.samples.get(name) or [by(x) for x in self.history.get(name, [])]) if v > 0]
        return max(values) / min(values) - 1 if len(values) > 1 else None

    def cpu_got(self, name: str) -> float | None:
        """The share of a core the server (or Argon2's thread) got in these runs: CPU seconds over wall seconds."""
        if name in self.shares:
            return sum(self.shares[name]) / len(self.shares[name])
        runs = self.history.get(name, [])
        cpu, wall = sum(x.cpu_seconds for x in runs), sum(x.seconds for x in runs)
        return cpu / wall if cpu and wall else None

    def judged(self, row: Row, figure: str, baseline: str, by: Callable[[wrk.Result], float] = PER_CPU) -> Row:
        """The row with its conditions: the CPU each side got, and how far the baseline moved between rounds."""
        shares = (self.cpu_got(figure), self.cpu_got(baseline))
        cpu = " · ".join("—" if share is None else f"{share:.2f}" for share in shares)
        return dataclasses.replace(row, baseline_spread=self.spread(baseline, by), cpu=cpu)

    def rows(self) -> list[Row]:
        r, rates, db = self.results, self.rates, self.db.name
        rows: list[Row] = []

        def ok(name: str) -> float | None:  # wall clock
            return r[name].ok_per_second if name in r else None

        def cpu(name: str) -> float | None:  # per second of the server's own CPU time
            return r[name].ok_per_cpu_second if name in r else None

        def note(*names: str) -> str:
            bad = [f"{n}: {r[n].bad + r[n].socket_errors} failed" for n in names if n in r and not r[n].clean]
            return "; ".join(bad)

        def add(figure: str, baseline: str, row: Row, by: Callable[[wrk.Result], float] = PER_CPU) -> None:
            rows.append(self.judged(row, figure, baseline, by))

        verify = rates.get("argon2_verify")
        add("login", "argon2_verify", Row(
            "login successes/s, 1 worker", db, cpu("login"), "/cpu-s", "Argon2 verify, 1 core", verify, "/cpu-s",
            Target(low=0.9), note("login"),
        ))
        if "login" in r and verify:
            extra = 1000 / r["login"].ok_per_cpu_second - 1000 / verify if r["login"].ok else None
            add("login", "argon2_verify", Row(
                "time per sign-in beyond the hash", db, extra, "ms", "hash", 1000 / verify, "ms", Target(high=1.5),
                judge_value=True,
            ))
        if self.threads.get("login") and verify:
            # The same CPU split by thread: the busiest thread but the event loop's is the one hashing (the sign-ins
            # keep it busy), so what is beside it is the sign-in's own work, whatever the hash cost in the server.
            loop, hashing, rest, answers = (sum(x) for x in zip(*self.threads["login"], strict=True))
            if answers:
                per = 1000 / answers
                split = Row(
                    "sign-in CPU beside the server's own hashing thread", db, (loop + rest) * per, "ms",
                    "its hashing thread", hashing * per, "ms", Target(),
                    f"event loop {loop * per:.2f} ms, other threads {rest * per:.2f} ms a sign-in; the server's hash "
                    f"{hashing * per:.1f} ms against the baseline's {1000 / verify:.1f} ms",
                    judge_value=True,
                )
                # Measured within the sign-in rounds alone: the baseline's noise does not reach it.
                rows.append(dataclasses.replace(self.judged(split, "login", "argon2_verify"), baseline_spread=None))
        add("me", "plain", Row(
            "me req/s (authenticated)", db, cpu("me"), "/cpu-s", "plain Starlette JSON", cpu("plain"), "/cpu-s",
            Target(low=0.25), note("me", "plain"),
        ))
        add("me", "session", Row(
            "`me` vs session read", db, cpu("me"), "/cpu-s", "Starlette + the session read", cpu("session"),
            "/cpu-s", Target(), note("me", "session"),
        ))
        missing = "mutation not in the schema yet"
        known = _median_p50(self, "reset_known_c1") if "reset_known_c1" in r else None
        unknown = _median_p50(self, "reset_unknown_c1") if "reset_unknown_c1" in r else None
        add("reset_known_c1", "reset_unknown_c1", Row(
            "requestPasswordReset p50 known/unknown", db, known, "ms", "unknown p50", unknown, "ms",
            Target(0.9, 1.1), note("reset_known_c1", "reset_unknown_c1") if known is not None else missing,
        ), P50)
        unknown_failure = _median_p50(self, "login_unknown_c1") if "login_unknown_c1" in r else None
        for kind, name in (("wrong password", "login_wrong_c1"), ("disabled account", "login_disabled_c1")):
            add(name, "login_unknown_c1", Row(
                f"login failure p50, {kind} vs unknown identifier", db, _median_p50(self, name) if name in r else None,
                "ms", "unknown identifier p50", unknown_failure, "ms", Target(0.9, 1.1), note(name, "login_unknown_c1"),
            ), P50)
        floor = 0.5 if self.db.postgres else 0.35  # issue 21: both reset requests and tickets
        add("reset_request", "insert", Row(
            "requestPasswordReset req/s", db, cpu("reset_request"), "/cpu-s", "bare ORM insert", cpu("insert"),
            "/cpu-s", Target(low=floor), note("reset_request") if "reset_request" in r else missing,
        ))
        add("reset_refused", "insert", Row(
            "requestPasswordReset refused before its first read", db, cpu("reset_refused"), "/cpu-s",
            "bare ORM insert", cpu("insert"), "/cpu-s", Target(),
            note("reset_refused") or "the floor of a reset request: HTTP and GraphQL, refused before the lookup"
            if "reset_refused" in r else missing,
        ))
        add("reset_password", "argon2_hash", Row(
            "resetPassword req/s", db, cpu("reset_password"), "/cpu-s", "Argon2 hash, 1 core",
            rates.get("argon2_hash"), "/cpu-s", Target(low=0.7),
            note("reset_password") if "reset_password" in r else missing,
        ))
        add("ticket", "insert", Row(
            "submitSupportTicket req/s", db, cpu("ticket"), "/cpu-s", "bare ORM insert", cpu("insert"), "/cpu-s",
            Target(low=floor), note("ticket") if "ticket" in r else missing,
        ))
        add("ticket_refused", "insert", Row(
            "submitSupportTicket refused before its first write", db, cpu("ticket_refused"), "/cpu-s",
            "bare ORM insert", cpu("insert"), "/cpu-s", Target(),
            note("ticket_refused") or "the floor of a ticket: HTTP, GraphQL and the eight fields' validation, no write"
            if "ticket_refused" in r else missing,
        ))
        if self.db.postgres:
            million = r["login_c1_million"].p50_ms if "login_c1_million" in r else None
            small = r["login_c1_small"].p50_ms if "login_c1_small" in r else None
            add("login_c1_million", "login_c1_small", Row(
                "login p50, 10^6 vs 10^3 accounts", db, million, "ms", "10^3 accounts", small, "ms",
                Target(high=1.2), "" if self.million else "skipped: PORTAL_BENCH_MILLION=0",
            ), P50)
        add("login_2w", "login_1w", Row(
            "login successes/s, 2 workers vs 1", db, ok("login_2w"), "/s", "1 worker, 1 core", ok("login_1w"), "/s",
            Target(low=1.7), note("login_2w", "login_1w"),
        ), PER_SECOND)
        rows.extend(self.memory_rows())
        return rows

    def memory_rows(self) -> list[Row]:
        """Each server's resident set at rest and at its peak under sign-ins, beside the bound on hash memory."""
        rows = []
        servers = (("portal", "1 worker", "login", 1, SERVER_CORE), ("two_workers", "2 workers", "login_2w", 2, "0,1"))
        for key, title, runs, workers, cores in servers:
            rest, load = self.memory.get(f"{key}_rest"), self.memory.get(f"{key}_load")
            if rest is None or load is None:
                continue
            bound, how = hash_memory_bound(self.env(), cores, workers)
            notes = [f"{load.rss_mib:.0f} MiB after it", f"Argon2 bound {bound:.0f} MiB = {how}"]
            if workers > 1:
                notes.append(f"processes at rest {rest.per_process()} MiB, supervisor included")
            base_rest, base_load = self.memory.get("baseline_rest"), self.memory.get("baseline_load")
            if key == "portal" and base_rest and base_load:
                notes.append(f"baseline app {base_rest.rss_mib:.0f} MiB at rest, peak {base_load.hwm_mib:.0f}")
            share = self.cpu_got(runs)
            rows.append(Row(
                f"resident set, {title}: peak under sign-ins (VmHWM)", self.db.name, load.hwm_mib, "MiB",
                "at rest (VmRSS)", rest.rss_mib, "MiB", Target(), "; ".join(notes),
                cpu="—" if share is None else f"{share:.2f}",
            ))
        return rows


def _median_p50(p: Pass, name: str) -> float:
    """The mean of the p50s of the interleaved runs of one kind."""
    runs = p.history[name]
    return sum(r.p50_ms for r in runs) / len(runs)
