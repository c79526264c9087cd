"""The operator CLI and a real `portal serve` over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.helpers import PASSWORD, settings_env, start_live_server, stop_live_server, unique

PORTAL = str(Path(sys.executable).parent / "portal")


def portal(env: dict[str, str], cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [PORTAL, *args], env={**os.environ, **env}, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def env(settings, database) -> dict[str, str]:
    return settings_env(settings)


def test_migrate_is_idempotent(env, tmp_path):
    first = portal(env, tmp_path, "migrate")
    second = portal(env, tmp_path, "migrate")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr


def test_accounts_create_prints_the_id_and_refuses_bad_input(env, tmp_path):
    name = unique("cli")
    created = portal(
        env, tmp_path, "accounts", "create", "--email", f"{name}@Example.ru", "--login", name,
        "--full-name", "Мария Иванова", "--password-stdin", stdin=PASSWORD + "\n",
    )
    assert created.returncode == 0, created.stderr
    account_id = created.stdout.strip()
    assert len(account_id) == 36

    duplicate = portal(env, tmp_path, "accounts", "create", "--email", f"{name}@example.ru", "--full-name", "X",
                       "--password", PASSWORD)
    assert duplicate.returncode == 2 and "ALREADY_EXISTS" in duplicate.stderr and not duplicate.stdout

    for args, code in [
        (["--email", "not-an-email"], "INVALID_EMAIL"),
        (["--phone", "12"], "INVALID_PHONE"),
        (["--login", "12345"], "INVALID_CHARACTERS"),
    ]:
        bad = portal(env, tmp_path, "accounts", "create", *args, "--full-name", "X", "--password", PASSWORD)
        assert bad.returncode == 2 and code in bad.stderr, bad.stderr
    weak = portal(env, tmp_path, "accounts", "create", "--email", f"{unique()}@example.ru", "--full-name", "X",
                  "--password", "password1")
    assert weak.returncode == 2 and "PASSWORD_TOO_SHORT" in weak.stderr
    missing = portal(env, tmp_path, "accounts", "create", "--full-name", "X", "--password", PASSWORD)
    assert missing.returncode == 2


def test_production_refuses_to_start_without_a_secret_or_https(env, tmp_path):
    base = {**env, "PORTAL_ENV": "production"}
    no_secret = portal({**base, "PORTAL_SECRET_KEY": ""}, tmp_path, "schema")
    assert no_secret.returncode == 2 and "PORTAL_SECRET_KEY" in no_secret.stderr
    plain_http = portal({**base, "PORTAL_PUBLIC_URL": "http://portal.example.ru"}, tmp_path, "schema")
    assert plain_http.returncode == 2 and "https" in plain_http.stderr
    loopback = portal({**base, "PORTAL_PUBLIC_URL": "http://127.0.0.1:8000"}, tmp_path, "schema")
    assert loopback.returncode == 0, loopback.stderr


def test_development_secret_is_generated_once(tmp_path):
    from portal.core.settings import Settings

    first = Settings(_env_file=None, data_dir=tmp_path, secret_key=None).secret  # type: ignore[call-arg]
    second = Settings(_env_file=None, data_dir=tmp_path, secret_key=None).secret  # type: ignore[call-arg]
    assert first == second and len(first) >= 48
    assert oct((tmp_path / "secret_key").stat().st_mode)[-3:] == "600"


def test_schema_prints_sdl(env, tmp_path):
    out = portal(env, tmp_path, "schema")
    assert out.returncode == 0 and "type Mutation" in out.stdout and "login(identifier: String!" in out.stdout


def test_the_journey_through_a_real_server(env, tmp_path):
    """Operator creates an account; the resident signs in, sees the account, refreshes and signs out."""
    name = unique("live")
    created = portal(env, tmp_path, "accounts", "create", "--email", f"{name}@example.ru", "--login", name,
                     "--full-name", "Пётр Сидоров", "--password", PASSWORD)
    assert created.returncode == 0, created.stderr
    server = start_live_server(env, tmp_path)
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            assert http.get("/healthz").status_code == 200
            assert http.get("/readyz").status_code == 200
            login = http.post("/graphql", json={"query": 'mutation($i:String!,$p:String!){login(identifier:$i,password:$p)'
                                                "{... on LoginSuccess{session{accessToken refreshToken}}}}",
                                                "variables": {"i": name.upper(), "p": PASSWORD}}).json()
            session = login["data"]["login"]["session"]
            auth = {"Authorization": f"Bearer {session['accessToken']}"}
            me = http.post("/graphql", json={"query": "{me{login fullName}}"}, headers=auth).json()
            assert me["data"]["me"] == {"login": name, "fullName": "Пётр Сидоров"}
            refreshed = http.post("/graphql", json={"query": 'mutation($t:String!){refreshSession(refreshToken:$t)'
                                                    "{... on LoginSuccess{session{accessToken}}}}",
                                                    "variables": {"t": session["refreshToken"]}}).json()
            new_auth = {"Authorization": f"Bearer {refreshed['data']['refreshSession']['session']['accessToken']}"}
            out = http.post("/graphql", json={"query": "mutation{logout{__typename}}"}, headers=new_auth).json()
            assert out["data"]["logout"]["__typename"] == "LoggedOut"
            assert http.post("/graphql", json={"query": "{me{id}}"}, headers=new_auth).json()["data"]["me"] is None
    finally:
        stop_live_server(server)
