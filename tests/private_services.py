"""Private PostgreSQL and Redis servers that a fault test may stop and start without touching anyone else's.

The shared servers on 5432 and 6379 serve every other test (and other people); a test that kills a
database kills its own: a throwaway cluster (`initdb` as the `postgres` OS user, which initdb requires
when we are root) and a `redis-server` without persistence, each on a free loopback port.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.helpers import free_port


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _as_postgres(args: list[str]) -> list[str]:
    """initdb refuses root: run the server tools as the `postgres` OS user when we are root."""
    if os.geteuid() == 0 and shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *args]
    return args


def postgres_available() -> bool:
    if not (_pg_bin("initdb") and _pg_bin("pg_ctl")):
        return False
    if os.geteuid() == 0:
        return subprocess.run(["id", "postgres"], capture_output=True).returncode == 0  # noqa: S603, S607
    return True


def redis_server_available() -> bool:
    return shutil.which("redis-server") is not None


class PrivatePostgres:
    """A cluster of its own in a temp dir, trust auth on 127.0.0.1:<port>, database `portal`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="portal-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/portal"

    def __enter__(self) -> PrivatePostgres:
        return self.init()

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def _run(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(_as_postgres(list(args)), check=True, capture_output=True, timeout=timeout)  # noqa: S603

    def init(self) -> PrivatePostgres:
        self._run(str(_pg_bin("initdb")), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync",
                  "-E", "UTF8", "--locale", "C")
        self.start()
        psql = _pg_bin("psql") or "psql"
        subprocess.run(  # noqa: S603
            [psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-c", "CREATE DATABASE portal"],
            check=True, capture_output=True, timeout=30,
        )
        return self

    def start(self) -> None:
        options = f"-p {self.port} -h 127.0.0.1 -k {self.dir} -c fsync=off -c max_connections=60"
        self._run(str(_pg_bin("pg_ctl")), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(_pg_bin("pg_ctl")), "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis:
    """`redis-server` on its own port, nothing saved to disk; `stop` and `start` keep the port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PrivateRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen(  # noqa: S603
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],  # noqa: S607
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        import redis

        while time.monotonic() < deadline:
            try:
                redis.Redis(port=self.port, socket_timeout=0.5).ping()
                return self
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def keys(self, pattern: str = "*") -> list[bytes]:
        import redis

        client = redis.Redis(port=self.port, socket_timeout=1)
        try:
            return list(client.scan_iter(match=pattern, count=1000))
        finally:
            client.close()
