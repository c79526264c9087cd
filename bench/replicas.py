"""`python -m bench.replicas` (part of `make bench`): two replicas behind HAProxy against one, and a replica killed.

The very `deploy/haproxy.cfg` on loopback in front of `portal serve` replicas over PostgreSQL; `wrk` drives
sign-ins (every answer checked: only `LoginSuccess` counts) through the balancer. Each replica stands for a
machine of its own: pinned to one core with one hash at a time; the load generator and HAProxy are not
pinned and share the cores with them, as the figure asks ("load generator and balancer included").
"One replica" is the same balancer with both `server` lines naming the same replica, so only the number
of replicas differs. Rounds alternate one/two so a neighbour's burst falls on both.

Figures: sign-ins per second, two replicas / one (wall clock); the p99 of sign-ins during a run in which
one of two replicas is killed with SIGKILL, against the p99 of a steady two-replica run, the answers
that failed meanwhile, and apart from them the connections that broke.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench import wrk
from bench.__main__ import POSTGRES_ADMIN, conditions, loadavg, postgres_database
from bench.ports import free_port
from bench.run import LOGIN, PASSWORD, PORTAL, PYTHON, ROOT, SECRET, address, body, unwind_on_sigterm
from bench.seed import email

CONNECTIONS = 16


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Deployment:
    def __init__(self, workdir: Path, database_url: str) -> None:
        self.workdir = workdir
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")},
            "PYTHONPATH": str(ROOT),
            "PORTAL_ENV": "production",
            "PORTAL_PUBLIC_URL": "http://127.0.0.1:8000",
            "PORTAL_DATABASE_URL": database_url,
            "PORTAL_DATA_DIR": str(workdir / "data"),
            "PORTAL_SECRET_KEY": SECRET,
            "PORTAL_TRUSTED_PROXIES": "127.0.0.1",
            "PORTAL_DELIVER_MAIL_IN_PROCESS": "false",
            # All the load comes from 127.0.0.1 through the balancer: one client address far above 600 a minute.
            "PORTAL_MUTATIONS_PER_CLIENT_PER_MINUTE": "10000000",
        }
        self.processes: list[subprocess.Popen[bytes]] = []

    def spawn(self, name: str, argv: list[str], extra: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(  # noqa: S603
            argv, env={**self.env, **(extra or {})}, cwd=self.workdir,
            stdout=(self.workdir / f"{name}.log").open("ab"), stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def replica(self, port: int, core: int) -> subprocess.Popen[bytes]:
        # A replica stands for a machine of its own: one core, one hash at a time (unpinned, one process
        # already hashes on both cores of this machine, and a second replica would have nothing to add).
        argv = ["taskset", "-c", str(core), PORTAL, "serve", "--host", "127.0.0.1", "--port", str(port)]
        process = self.spawn(f"serve-{port}", argv, {"PORTAL_HASH_CONCURRENCY": "1"})
        wait_http(f"http://127.0.0.1:{port}/readyz")
        return process

    def balancer(self, port: int, first: int, second: int) -> subprocess.Popen[bytes]:
        extra = {
            "PORTAL_LB_BIND": f"127.0.0.1:{port}",
            "PORTAL_APP1": f"127.0.0.1:{first}",
            "PORTAL_APP2": f"127.0.0.1:{second}",
            "PORTAL_LB_METRICS_BIND": f"127.0.0.1:{free_port()}",  # two balancers run at once
        }
        haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
        process = self.spawn(f"haproxy-{port}", [haproxy, "-db", "-f", str(ROOT / "deploy" / "haproxy.cfg")], extra)
        wait_http(f"http://127.0.0.1:{port}/readyz")
        time.sleep(2.5)  # both servers checked up (rise 2 at 1 s)
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def stop_all(self) -> None:
        for process in self.processes:
            self.stop(process)


def wait_http(url: str, seconds: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def drive(url: str, requests: list[wrk.Request], workdir: Path, seconds: float) -> wrk.Result:
    cores = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    return wrk.run(url + "/graphql", requests, "LoginSuccess", workdir=workdir, connections=CONNECTIONS,
                   seconds=seconds, cores=cores)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replicas", description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--postgres", default=os.environ.get("PORTAL_BENCH_POSTGRES_URL", POSTGRES_ADMIN))
    args = parser.parse_args(argv)
    if not (wrk.available() and (shutil.which("haproxy") or Path("/usr/sbin/haproxy").exists())):
        log("bench.replicas needs `wrk`, `taskset` and `haproxy` (apt-get install wrk haproxy): skipped")
        return 0
    database = postgres_database(args.postgres)
    if database is None:
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="portal-bench-replicas-"))
    deployment = Deployment(workdir, database.url)
    try:
        seeded = subprocess.run(  # noqa: S603
            [PYTHON, "-m", "bench.seed", "--count", str(args.accounts), "--migrate", "--analyze"],
            input=PASSWORD + "\n", env=deployment.env, cwd=ROOT, capture_output=True, text=True, check=False,
        )
        if seeded.returncode != 0:
            raise RuntimeError(seeded.stderr[-3000:])
        requests = [wrk.Request(address(i), body(LOGIN, {"i": email(i), "p": PASSWORD}))
                    for i in range(args.accounts)]
        ports = [free_port(), free_port()]
        cores = sorted(os.sched_getaffinity(0))
        replicas = [deployment.replica(port, cores[i % len(cores)]) for i, port in enumerate(ports)]
        one_port, two_port = free_port(), free_port()
        deployment.balancer(one_port, ports[0], ports[0])
        deployment.balancer(two_port, ports[0], ports[1])
        load_at_start = loadavg()
        one: list[wrk.Result] = []
        two: list[wrk.Result] = []
        for n in range(args.rounds):
            one.append(drive(f"http://127.0.0.1:{one_port}", requests, workdir, args.seconds))
            two.append(drive(f"http://127.0.0.1:{two_port}", requests, workdir, args.seconds))
            log(f"round {n + 1}: one replica {one[-1].ok_per_second:.1f}/s (bad {one[-1].bad}), "
                f"two {two[-1].ok_per_second:.1f}/s (bad {two[-1].bad})")
        rate_one = sum(r.ok for r in one) / sum(r.seconds for r in one)
        rate_two = sum(r.ok for r in two) / sum(r.seconds for r in two)
        steady_p99 = sorted(r.p99_ms for r in two)[len(two) // 2]

        # A replica killed with SIGKILL a third of the way into a run through the two-replica balancer.
        kill_seconds = max(6.0, args.seconds * 1.5)
        killer = threading.Timer(kill_seconds / 3, lambda: replicas[1].send_signal(signal.SIGKILL))
        killer.start()
        killed = drive(f"http://127.0.0.1:{two_port}", requests, workdir, kill_seconds)
        killer.join()

        print()
        print(conditions(load_at_start))
        print("| figure (PostgreSQL, through HAProxy) | measured | baseline (same run) | ratio | target |")
        print("| --- | --- | --- | --- | --- |")
        print(f"| sign-ins per second, two replicas | {rate_two:.1f}/s | one replica: {rate_one:.1f}/s | "
              f"{rate_two / rate_one:.2f}x | >= 1.6x |")
        print(f"| sign-in p99 while a replica is killed | {killed.p99_ms:.0f} ms | steady two replicas: "
              f"{steady_p99:.0f} ms | {killed.p99_ms / steady_p99:.2f}x | |")
        # A request in flight on the killed replica gets the balancer's 502 (one line each in its log) and
        # the balancer then closes that client's connection, which wrk counts again as a read error when its
        # next request meets the close. The two are printed apart so one failure is not reported twice.
        print(f"| answers that failed during that run | {killed.bad} of {killed.requests} | | | |")
        print(f"| connections that broke meanwhile (wrk's socket errors) | {killed.socket_errors} | | | |")
        return 0
    finally:
        deployment.stop_all()
        database.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    unwind_on_sigterm()
    sys.exit(main())
