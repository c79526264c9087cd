"""Helpers for the mail and reset tests: draining the outbox, reading links, clients with their own address."""

from __future__ import annotations

import itertools
import re
from typing import Any

import httpx

from portal.core.runtime import Runtime
from portal.mail.delivery import BATCH_SIZE, DeliveryReport, deliver_due
from tests.conftest import GQL, PUBLIC_URL
from tests.smtp_sink import Letter

LINK_RE = re.compile(re.escape(PUBLIC_URL) + r"/reset-password\?token=([A-Za-z0-9_\-.~]+)")
_addresses = itertools.count(1)


async def drain(rt: Runtime) -> DeliveryReport:
    """Delivers everything due now (several rounds if needed) and sums the reports."""
    total = DeliveryReport()
    while True:
        report = await deliver_due(rt)
        for name in ("claimed", "sent", "retrying", "failed", "expired"):
            setattr(total, name, getattr(total, name) + getattr(report, name))
        if report.claimed < BATCH_SIZE:
            return total


def token_from(letter: Letter) -> str:
    found = LINK_RE.findall(letter.text)
    assert len(found) == 1, letter.text
    return str(found[0])


def new_address() -> str:
    """A client address of its own, so per-client throttles of one test never touch another."""
    n = next(_addresses)
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def client_at(app: Any, address: str | None = None) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address or new_address(), 40000))
    return httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL)


REQUEST = """
mutation($identifier: String!) { requestPasswordReset(identifier: $identifier) {
  __typename ... on Error { message } ... on TooManyAttempts { retryAfterSeconds }
  ... on PasswordResetRequested { message } ... on ValidationError { fields { field code } } } }
"""
RESET = """
mutation($token: String!, $p: String!, $c: String!) {
  resetPassword(token: $token, newPassword: $p, newPasswordConfirmation: $c) {
    __typename ... on Error { message } ... on PasswordResetSucceeded { message }
    ... on ValidationError { fields { field code } } ... on TooManyAttempts { retryAfterSeconds } } }
"""


async def request_reset(gql: GQL, identifier: str, **kwargs: Any) -> dict[str, Any]:
    data = await gql(REQUEST, {"identifier": identifier}, **kwargs)
    return dict(data["requestPasswordReset"])


async def reset(gql: GQL, token: str, password: str, confirmation: str | None = None) -> dict[str, Any]:
    data = await gql(RESET, {"token": token, "p": password, "c": password if confirmation is None else confirmation})
    return dict(data["resetPassword"])
