"""A real relying party (openid-client, npm) signs a resident in through a real `portal serve`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.conftest import ROOT, free_port, need_service, settings_env

NODE_DIR = ROOT / "tests" / "node"
REDIRECT = "https://rp.example.com/callback"
AFTER_LOGOUT = "https://rp.example.com/bye"


def _portal(env: dict[str, str], *args: str) -> str:
    portal = Path(sys.executable).parent / "portal"
    done = subprocess.run([str(portal), *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _serve(env: dict[str, str], port: int, workdir: Path) -> subprocess.Popen[bytes]:
    portal = Path(sys.executable).parent / "portal"
    log = (workdir / f"rp-serve-{port}.log").open("wb")
    process = subprocess.Popen(  # noqa: S603
        [str(portal), "serve", "--port", str(port)], env={**os.environ, **env}, cwd=workdir, stdout=log, stderr=log
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("portal serve did not start")


def _browse(browser: httpx.Client, url: str, identifier: str, password: str) -> str:
    """Follows the authorization URL like a browser: /login, the consent page; returns the callback URL."""
    import html
    import re

    def hidden(page: str, name: str) -> str:
        match = re.search(rf'name="{name}" value="([^"]*)"', page)
        assert match, page[:2000]
        return html.unescape(match.group(1))

    response = browser.get(url)
    while response.status_code in (302, 303) and not response.headers["location"].startswith(REDIRECT):
        response = browser.get(response.headers["location"])
        if urlsplit(str(response.url)).path == "/login" and response.status_code == 200:
            form = {"csrf": hidden(response.text, "csrf"), "next": hidden(response.text, "next"),
                    "identifier": identifier, "password": password}
            response = browser.post("/login", data=form)
            assert response.status_code == 303, response.text[:2000]
    if response.status_code == 200 and 'name="decision"' in response.text:
        assert response.headers["x-frame-options"] == "DENY"
        form = {"request": hidden(response.text, "request"), "csrf": hidden(response.text, "csrf"), "decision": "allow"}
        response = browser.post("/oauth/authorize", data=form)
        assert response.status_code == 303
    location = response.headers.get("location", "")
    assert location.startswith(REDIRECT), (response.status_code, response.text[:2000])
    return location


async def test_openid_client_signs_a_resident_in(settings, make_account, tmp_path):
    node = shutil.which("node")
    need_service(node is not None and (NODE_DIR / "node_modules" / "openid-client").is_dir(),
                 "Node.js with tests/node/node_modules (npm ci in tests/node) is needed for the relying-party test")
    account = await make_account(phone=None)
    port = free_port()
    env = {**settings_env(settings), "PORTAL_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    added = _portal(env, "oidc-clients", "add", "--name", "Meter readings", "--redirect-uri", REDIRECT,
                    "--post-logout-redirect-uri", AFTER_LOGOUT)
    lines = dict(line.split("=", 1) for line in added.strip().splitlines())
    assert set(lines) == {"client_id", "client_secret"}
    assert lines["client_id"] in _portal(env, "oidc-clients", "list")

    server = _serve(env, port, tmp_path)
    rp = subprocess.Popen(  # noqa: S603
        [str(node), str(NODE_DIR / "rp.mjs"), f"http://127.0.0.1:{port}", lines["client_id"], lines["client_secret"],
         REDIRECT, AFTER_LOGOUT],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=NODE_DIR,
    )
    try:
        assert rp.stdin and rp.stdout
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as browser:
            for _ in range(2):
                line = rp.stdout.readline()
                assert line, rp.stderr.read() if rp.stderr else ""
                callback = _browse(browser, json.loads(line)["authorize"], account.email, "correct horse battery staple")
                assert parse_qs(urlsplit(callback).query)["iss"] == [f"http://127.0.0.1:{port}"]
                rp.stdin.write(callback + "\n")
                rp.stdin.flush()
            line = rp.stdout.readline()
            assert line, rp.stderr.read() if rp.stderr else ""
            result = json.loads(line)
            assert result["claims"]["email"] == account.email and result["claims"]["amr"] == ["pwd"]
            assert result["userinfo"]["sub"] == result["claims"]["sub"]
            assert result["rotated"] and result["replayRefused"] and result["familyRevoked"] and result["revokedRefused"]
            bye = browser.get(result["endSession"])
            assert bye.status_code == 302 and bye.headers["location"] == AFTER_LOGOUT + "?state=bye"
        assert rp.wait(timeout=20) == 0
    finally:
        if rp.poll() is None:
            rp.kill()
        server.terminate()
        server.wait(timeout=10)
