"""The test harness for federated sign-in: a real OpenID Provider (panva's oidc-provider, tests/node/op.mjs)
on loopback, and a "browser" (httpx) that talks to it and to the portal's ASGI app and submits its login form.

The provider reaches nothing of ours: only the browser and the portal's backend (discovery, token, keys) call it.
"""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.helpers import PUBLIC_URL, free_port, need_service, stop_process

NODE_DIR = Path(__file__).resolve().parent / "node"
# portal provider id -> how the provider treats its client
MISBEHAVING = {
    "expired": "expired",
    "badsig": "bad-signature",
    "badnonce": "wrong-nonce",
    "wrongiss": "wrong-issuer",
    "wrongaud": "wrong-audience",
    "algnone": "alg-none",
    "notyet": "not-yet-valid",
    "wrongazp": "wrong-azp",
    "staleiat": "stale-iat",
}


@dataclass
class OpenIDProvider:
    issuer: str
    process: subprocess.Popen[bytes]
    log: Path

    def portal_config(self) -> list[dict[str, Any]]:
        """PORTAL_OIDC_PROVIDERS for the portal: one good provider, the misbehaving ones, and two broken ones."""
        good = {
            "id": "city",
            "name": "Городской портал",
            "issuer": self.issuer,
            "client_id": "portal",
            "client_secret": secret_of("portal"),
            "scopes": ["openid", "email", "profile"],
        }
        providers = [good]
        for pid in MISBEHAVING:
            providers.append(
                {
                    **good,
                    "id": pid,
                    "name": f"Broken {pid}",
                    "client_id": f"portal-{pid}",
                    "client_secret": secret_of(f"portal-{pid}"),
                }
            )
        port = urlsplit(self.issuer).port
        providers.append({**good, "id": "mismatch", "name": "Mismatch", "issuer": f"http://localhost:{port}"})
        providers.append({**good, "id": "down", "name": "Down", "issuer": f"http://127.0.0.1:{free_port()}"})
        return providers


def secret_of(client_id: str) -> str:
    return f"{client_id}-secret-0123456789abcdef0123456789"


def start_provider(workdir: Path, portal_url: str = PUBLIC_URL) -> OpenIDProvider:
    node = shutil.which("node")
    need_service(node is not None, "Node.js is absent: federation tests need a real OpenID Provider (oidc-provider)")
    need_service(
        (NODE_DIR / "node_modules" / "oidc-provider").is_dir(),
        "tests/node/node_modules is missing: run `npm ci` in tests/node (`make test` does)",
    )
    port = free_port()
    clients = [
        {
            "client_id": "portal",
            "client_secret": secret_of("portal"),
            "redirect_uris": [f"{portal_url}/auth/federated/city/callback"],
        }
    ]
    for pid, mode in MISBEHAVING.items():
        clients.append(
            {
                "client_id": f"portal-{pid}",
                "client_secret": secret_of(f"portal-{pid}"),
                "redirect_uris": [f"{portal_url}/auth/federated/{pid}/callback"],
                "misbehave": mode,
            }
        )
    log = workdir / f"op-{port}.log"
    process = subprocess.Popen(  # noqa: S603
        [str(node), "op.mjs"],
        cwd=NODE_DIR,
        env={**os.environ, "OP_CONFIG": json.dumps({"port": port, "clients": clients}), "NODE_ENV": "test"},
        stdout=subprocess.PIPE,
        stderr=log.open("wb"),
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 20
    line = b""
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith(b"ready "):
            return OpenIDProvider(line.split()[1].decode(), process, log)
        if not line and process.poll() is not None:
            break
    process.kill()
    raise RuntimeError(f"oidc-provider did not start: {line!r} {log.read_text()[-2000:]}")


def stop_provider(op: OpenIDProvider) -> None:
    stop_process(op.process, timeout=5)


def account_login(sub: str, email: str = "", verified: bool = True, name: str = "Иван Петров") -> str:
    """What the resident types into the provider's login form (see op.mjs); the provider uses all of it as `sub`."""
    return f"{sub};{email};{1 if verified else 0};{name}"


class Browser:
    """One browser: its own cookie jar, the portal mounted in-process, the provider over real loopback HTTP."""

    def __init__(self, app: Any, address: str | None = None) -> None:
        address = (
            address or f"127.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}"
        )
        portal = httpx.ASGITransport(app=app, client=(address, 40000))
        self.http = httpx.AsyncClient(mounts={PUBLIC_URL: portal}, base_url=PUBLIC_URL, timeout=15)

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def gql(self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        """As a script on one of the portal's own pages would send it (so a sign-in sets the session cookie)."""
        kwargs["headers"] = {"origin": PUBLIC_URL, "sec-fetch-site": "same-origin", **kwargs.get("headers", {})}
        response = await self.http.post("/graphql", json={"query": query, "variables": variables or {}}, **kwargs)
        body = response.json()
        assert "errors" not in body and response.status_code == 200, body
        return body["data"]

    async def authorize(self, authorization_url: str, login: str) -> str:
        """Follows the provider's redirects, submits its login and consent forms; returns the URL it sends
        the browser back to (the portal's callback), without opening it."""
        url = authorization_url
        response = await self.http.get(url)
        for _ in range(12):
            if response.is_redirect:
                location = str(response.next_request.url) if response.next_request else response.headers["location"]
                if location.startswith(PUBLIC_URL):
                    return location
                response = await self.http.get(location)
                continue
            assert response.status_code == 200, (response.status_code, response.text[:500])
            page = response.text
            action = html.unescape(re.search(r'<form[^>]*action="([^"]+)"', page).group(1))  # type: ignore[union-attr]
            if 'name="login"' in page:
                form = {"prompt": "login", "login": login, "password": "any"}
            else:
                assert 'value="consent"' in page, page[:500]
                form = {"prompt": "consent"}
            response = await self.http.post(action, data=form)
        raise AssertionError("the provider never redirected back")
