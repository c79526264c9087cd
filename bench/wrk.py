"""Driving a server with `wrk` (Debian's package) pinned to its own core, every answer checked by `check.lua`."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).with_name("check.lua")


@dataclass(frozen=True)
class Request:
    """One prepared request: the client address the proxy vouches for, an optional bearer token, the body."""

    forwarded_for: str
    body: str
    bearer: str = ""
    method: str = "POST"  # a GET is sent without its body
    content_type: str = "application/json"

    def line(self) -> str:
        if "\t" in self.body or "\n" in self.body:
            raise ValueError("request bodies are written one per line: no tabs or newlines")
        line = f"{self.forwarded_for}\t{self.bearer}\t{self.body}"
        if (self.method, self.content_type) != ("POST", "application/json"):
            line += f"\t{self.method}\t{self.content_type}"
        return line


@dataclass(frozen=True)
class Result:
    seconds: float
    requests: int
    ok: int
    bad: int
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    sample: str
    cpu_seconds: float = 0.0  # what the server's processes spent on the CPU during the run

    @property
    def ok_per_second(self) -> float:
        """Successes per second: a wrong answer, a TooManyAttempts or an error adds nothing."""
        return self.ok / self.seconds

    @property
    def ok_per_cpu_second(self) -> float:
        """Successes per second of the server's own CPU time: what a core of its own would give."""
        return self.ok / self.cpu_seconds if self.cpu_seconds else self.ok_per_second

    @property
    def clean(self) -> bool:
        return self.bad == 0 and self.socket_errors == 0


def available() -> bool:
    return shutil.which("wrk") is not None and shutil.which("taskset") is not None


def run(
    url: str,
    requests: list[Request],
    expect: str,
    *,
    workdir: Path,
    connections: int,
    seconds: float,
    cores: str = "1",
    timeout_s: int = 10,
) -> Result:
    """Runs `wrk` on `cores` against `url`, replaying `requests` in order (wrapping around)."""
    path = workdir / f"requests-{abs(hash((url, expect, len(requests), requests[0].body)))}.tsv"
    path.write_text("\n".join(r.line() for r in requests) + "\n")
    command = [
        shutil.which("taskset") or "taskset",
        "-c",
        cores,
        shutil.which("wrk") or "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout_s}s",
        "-s",
        str(SCRIPT),
        url,
        "--",
        str(path),
        expect,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=seconds + 60)  # noqa: S603
    return parse(done.stdout, done.stderr)


def parse(stdout: str, stderr: str = "") -> Result:
    values: dict[str, int] = {}
    sample = ""
    for line in stdout.splitlines():
        if line.startswith("WRK_RESULT "):
            values = {k: int(v) for k, v in (item.split("=", 1) for item in line.split()[1:])}
        elif line.startswith("WRK_SAMPLE "):
            sample = line[len("WRK_SAMPLE ") :]
    if not values:
        raise RuntimeError(f"wrk gave no result:\n{stdout}\n{stderr}")
    return Result(
        seconds=values["duration_us"] / 1e6,
        requests=values["requests"],
        ok=values["ok"],
        bad=values["bad"],
        socket_errors=values["connect"] + values["read"] + values["write"] + values["timeout"],
        p50_ms=values["p50"] / 1000,
        p90_ms=values["p90"] / 1000,
        p99_ms=values["p99"] / 1000,
        sample=sample,
    )
