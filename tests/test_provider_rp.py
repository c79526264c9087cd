"""A real relying party (openid-client, npm) signs a resident in through a real `portal serve`, every page
step in Chromium: a confidential server-side partner with offline_access."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    free_port,
    need_chromium,
    need_service,
    settings_env,
    start_live_server,
    stop_live_server,
)

try:
    from playwright.async_api import Error as PlaywrightError
except ImportError:  # the test is skipped without Playwright
    PlaywrightError = Exception  # type: ignore[misc,assignment]

NODE_DIR = ROOT / "tests" / "node"
REDIRECT = "https://rp.example.com/callback"
AFTER_LOGOUT = "https://rp.example.com/bye"


def _portal(env: dict[str, str], *args: str) -> str:
    portal = Path(sys.executable).parent / "portal"
    done = subprocess.run([str(portal), *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def _browse(page: Any, url: str, identifier: str, password: str) -> str:
    """Follows the authorization URL in Chromium: the portal's sign-in and consent pages when they come;
    returns the URL the browser was sent to at the partner (whose site does not exist: the request is enough)."""
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.url.startswith(REDIRECT) else None)

    async def settle() -> None:
        """Until the browser is sent to the partner, or a page of ours is ready."""
        for _ in range(100):
            if sent or (urlsplit(page.url).path in ("/login", "/oauth/authorize")
                        and await page.locator("form").count()):
                return
            await asyncio.sleep(0.1)

    with contextlib.suppress(PlaywrightError):  # the partner's host does not resolve: only its request matters
        await page.goto(url)
    await settle()
    if not sent and urlsplit(page.url).path == "/login":
        await page.locator('input[name="identifier"]').fill(identifier)
        await page.locator('input[name="password"]').fill(password)
        async with page.expect_navigation():
            await page.get_by_role("button", name="Войти", exact=True).click()
        await settle()
    if not sent:  # a third party: the consent page
        await page.get_by_role("button", name="Разрешить").click()
        await settle()
    assert sent and sent[-1].startswith(REDIRECT), (page.url, sent)
    return sent[-1]


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

    need_chromium()
    from playwright.async_api import async_playwright

    server = start_live_server(env, tmp_path, port=port)
    rp = subprocess.Popen(  # noqa: S603
        [str(node), str(NODE_DIR / "rp.mjs"), f"http://127.0.0.1:{port}", lines["client_id"], lines["client_secret"],
         REDIRECT, AFTER_LOGOUT],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=NODE_DIR,
    )
    try:
        assert rp.stdin and rp.stdout
        async with async_playwright() as p:
            chromium = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = await (await chromium.new_context(locale="ru-RU")).new_page()
            for _ in range(2):
                line = rp.stdout.readline()
                assert line, rp.stderr.read() if rp.stderr else ""
                authorize = json.loads(line)["authorize"]
                assert "offline_access" in parse_qs(urlsplit(authorize).query)["scope"][0].split()
                callback = await _browse(page, authorize, account.email, "correct horse battery staple")
                assert parse_qs(urlsplit(callback).query)["iss"] == [f"http://127.0.0.1:{port}"]
                rp.stdin.write(callback + "\n")
                rp.stdin.flush()
            line = rp.stdout.readline()
            assert line, rp.stderr.read() if rp.stderr else ""
            result = json.loads(line)
            assert result["claims"]["email"] == account.email and result["claims"]["amr"] == ["pwd"]
            assert result["userinfo"]["sub"] == result["claims"]["sub"]
            assert "offline_access" in result["scope"].split()  # a confidential partner that stays connected
            assert result["rotated"] and result["replayRefused"] and result["familyRevoked"] and result["revokedRefused"]
            bye: list[str] = []
            page.on("request", lambda r: bye.append(r.url) if r.url.startswith(AFTER_LOGOUT) else None)
            with contextlib.suppress(PlaywrightError):
                await page.goto(result["endSession"])
            assert bye == [AFTER_LOGOUT + "?state=bye"], bye
            tab = await page.context.new_page()  # same browser profile, away from the partner's error page
            await tab.goto(f"http://127.0.0.1:{port}/account")
            assert urlsplit(tab.url).path == "/login"  # the portal session ended with the partner's sign-out
            await chromium.close()
        assert rp.wait(timeout=20) == 0
    finally:
        if rp.poll() is None:
            rp.kill()
        stop_live_server(server)
