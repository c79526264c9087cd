"""`python -m bench.peer`: the portal beside fastapi-users, the peer issue 21 names, in one run.

Both serve one uvicorn worker with uvloop and httptools on core 0 (`wrk` on core 1), on a database of their
own of the same kind, with the same 1,000 accounts and the same stored Argon2 hash (`bench/peer_app.py`). Driven
in turn, three rounds each: the Argon2 baseline, the portal's sign-in and the peer's (8 connections), then plain
Starlette JSON, the portal's `me` and the peer's `/users/me` (32 connections), then the bare ORM insert and
both reset requests (`requestPasswordReset`; the peer's `POST /auth/forgot-password`). Every answer is checked,
as in `make bench`. Printed: sign-ins over Argon2 verifies, CPU per sign-in beyond the hash, `me` over plain
JSON and reset requests over the bare insert, each per second of the server's own CPU, for both.

The peer is installed by package name into a venv of its own (`--venv`, reused when it already has it):
fastapi-users with SQLAlchemy, aiosqlite, asyncpg, uvicorn's standard extras and pwdlib's Argon2. Needs the
package index once; the portal's own venv is not touched.

    .venv/bin/python -m bench.peer --databases sqlite,postgres --venv /tmp/peer-venv
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

import httpx

from bench import wrk
from bench.__main__ import POSTGRES_ADMIN, conditions, database_for, loadavg, log, machine
from bench.run import (
    PASSWORD,
    ROUNDS,
    SERVER_CORE,
    Database,
    Pass,
    Server,
    address,
    insert_requests,
    known_reset_requests,
    me_requests,
    plain_requests,
    unwind_on_sigterm,
)
from bench.seed import email

HERE = Path(__file__).resolve().parent
PEER_PACKAGES = ("fastapi-users[sqlalchemy]", "aiosqlite", "asyncpg", "uvicorn[standard]", "pwdlib[argon2]")
ACCOUNTS = 1000


def peer_python(venv: Path) -> Path:
    """The peer's interpreter, its packages installed by name on first use."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # noqa: S603
    probe = subprocess.run([python, "-c", "import fastapi_users, asyncpg, aiosqlite, uvloop"], check=False)  # noqa: S603
    if probe.returncode != 0:
        log(f"installing the peer into {venv}: {', '.join(PEER_PACKAGES)}")
        subprocess.run([python, "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True)  # noqa: S603
    return python


def peer_versions(python: Path) -> str:
    code = "import importlib.metadata as m; print(', '.join(f'{p} {m.version(p)}' for p in " \
        "('fastapi-users', 'fastapi', 'sqlalchemy', 'pwdlib', 'uvicorn')))"
    return subprocess.run([python, "-c", code], check=True, capture_output=True, text=True).stdout.strip()  # noqa: S603


def peer_url(db: Database, workdir: Path) -> str:
    """SQLAlchemy's URL for the peer's database: a file beside the portal's, or the portal's PostgreSQL database
    (the peer's tables have names of their own: `user`, `accesstoken`)."""
    if db.postgres:
        return db.url.replace("postgres://", "postgresql+asyncpg://", 1)
    return f"sqlite+aiosqlite:///{workdir}/peer.sqlite3"


def measure(p: Pass, python: Path) -> dict[str, float]:
    """One database: the portal and the peer side by side; returns each figure per second of its server's CPU."""
    p.seed(failures=False)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")},
        "DATABASE_URL": peer_url(p.db, p.workdir),
        "PEER_STORED_HASH": p.stored_hash,
        "PYTHONPATH": str(HERE),
    }
    subprocess.run(  # noqa: S603
        [python, str(HERE / "peer_app.py"), "seed", "--count", str(ACCOUNTS), "--hash", p.stored_hash],
        env=env, cwd=p.workdir, check=True,
    )
    peer_argv = [str(python), "-m", "uvicorn", "peer_app:app", "--host", "127.0.0.1", "--port", "{port}",
                 "--loop", "uvloop", "--http", "httptools", "--no-access-log"]
    t = max(2.0, p.seconds / ROUNDS)
    portal_login = p.login_requests()
    peer_login = [
        wrk.Request(address(i), urlencode({"username": email(i), "password": PASSWORD}),
                    content_type="application/x-www-form-urlencoded")
        for i in range(ACCOUNTS)
    ]
    portal_reset = known_reset_requests(ACCOUNTS)
    # fastapi-users answers 202 with `null` whether or not the account exists. For a known one it makes a token
    # (carrying an Argon2 hash of the stored hash) and hands it to `on_after_forgot_password`, which sends nothing
    # unless the application overrides it: no letter is written.
    peer_reset = [wrk.Request(address(i), json.dumps({"email": email(i)})) for i in range(ACCOUNTS)]
    plain, insert = plain_requests(), insert_requests()
    with p.baseline_server() as base, p.portal() as portal:
        with Server(peer_argv, env, p.workdir, SERVER_CORE, None) as peer:
            portal_me = me_requests(p.sign_in(portal, 20))
            tokens = _peer_tokens(peer.url)
            peer_me = [wrk.Request(address(i), "", tokens[i % len(tokens)], method="GET") for i in range(ACCOUNTS)]
            p.alternate(
                lambda: p.argon2("verify", t),
                lambda: p.drive("portal_login", portal.url + "/graphql", portal_login, '"LoginSuccess"', 8, t),
                lambda: p.drive("peer_login", peer.url + "/auth/login", peer_login, '"access_token"', 8, t),
            )
            p.alternate(
                lambda: p.drive("plain", base.url + "/plain", plain, '"me":{"id":"', 32, t),
                lambda: p.drive("portal_me", portal.url + "/graphql", portal_me, '"me":{"id":"', 32, t),
                lambda: p.drive("peer_me", peer.url + "/users/me", peer_me, '"email":"bench', 32, t),
            )
            # The portal's answers wait out its 50-ms floor: more connections keep its core busy meanwhile.
            p.alternate(
                lambda: p.drive("insert", base.url + "/insert", insert, '"inserted":', 32, t),
                lambda: p.drive("portal_reset", portal.url + "/graphql", portal_reset, "ResetRequested", 128, t),
                lambda: p.drive("peer_reset", peer.url + "/auth/forgot-password", peer_reset, "null", 32, t),
            )
    names = ("portal_login", "peer_login", "plain", "portal_me", "peer_me", "insert", "portal_reset", "peer_reset")
    p.combine(*names)
    figures = {name: p.results[name].ok_per_cpu_second for name in names}
    failed = {name: p.results[name].bad + p.results[name].socket_errors for name in names}
    if any(failed.values()):
        raise RuntimeError(f"wrong answers or socket errors: {failed}")
    figures["argon2_verify"] = p.rates["argon2_verify"]
    for name in ("argon2_verify", "plain", "insert"):
        figures[name + "_spread"] = p.spread(name, lambda r: r.ok_per_cpu_second) or 0.0
    return figures


def _peer_tokens(url: str) -> list[str]:
    tokens = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(20):
            r = client.post("/auth/login", data={"username": email(i), "password": PASSWORD})
            r.raise_for_status()
            tokens.append(r.json()["access_token"])
    return tokens


def table(db: str, f: dict[str, float]) -> list[str]:
    verify = f["argon2_verify"]
    rows = []
    for who in ("portal", "peer"):
        login, me, reset = f[f"{who}_login"], f[f"{who}_me"], f[f"{who}_reset"]
        beyond = 1000 / login - 1000 / verify
        rows.append(
            f"| {who} | {db} | {login / verify:.2f} | {beyond:.2f} ms | {me:,.0f} /cpu-s | {me / f['plain']:.3f} "
            f"| {reset:,.0f} /cpu-s | {reset / f['insert']:.2f} |"
        )
    ahead = f["portal_me"] / f["peer_me"]
    rows.append(
        f"| portal / peer | {db} | {f['portal_login'] / f['peer_login']:.2f}× | | | {ahead:.2f}× | | "
        f"{f['portal_reset'] / f['peer_reset']:.2f}× |"
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    unwind_on_sigterm()
    parser = argparse.ArgumentParser(prog="python -m bench.peer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="each figure's load over its three rounds")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--postgres", default=POSTGRES_ADMIN)
    parser.add_argument("--venv", type=Path, default=Path(tempfile.gettempdir()) / "portal-bench-peer-venv")
    args = parser.parse_args(argv)
    if not wrk.available():
        log("wrk and taskset are needed (apt-get install wrk util-linux)")
        return 2
    python = peer_python(args.venv)
    log(machine())
    log(f"peer: {peer_versions(python)}")
    load_at_start = loadavg()
    lines = [
        "| server | db | sign-ins / Argon2 verifies | CPU per sign-in beyond the hash | `me` per CPU-s "
        "| `me` / plain JSON | reset requests per CPU-s | reset requests / bare insert |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    notes = []
    for kind in (d.strip().lower() for d in args.databases.split(",") if d.strip()):
        with tempfile.TemporaryDirectory(prefix="portal-bench-peer-") as tmp:
            workdir = Path(tmp)
            (workdir / "data").mkdir()
            try:
                database = database_for(kind, workdir, args.postgres)
            except ValueError as unknown:
                log(str(unknown))
                return 2
            if database is None:  # PostgreSQL does not answer: skipped
                continue
            try:
                p = Pass(db=database, workdir=workdir, seconds=args.seconds, accounts=ACCOUNTS, million=False,
                         mutations=set(), log=log)
                figures = measure(p, python)
            finally:
                database.cleanup()
            lines.extend(table(database.name, figures))
            notes.append(
                f"{database.name}: the baselines moved {figures['argon2_verify_spread']:.0%} (Argon2), "
                f"{figures['plain_spread']:.0%} (plain JSON) and {figures['insert_spread']:.0%} (bare insert) "
                "between their rounds"
            )
    print(conditions(load_at_start))
    print("\n".join(lines))
    for note in notes:
        print(f"- {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
