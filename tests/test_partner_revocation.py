"""Partners lose a resident's tokens whenever the portal does: "sign out everywhere", disabling, erasure (issue 9)."""

from __future__ import annotations

import asyncio
import html
import re
from typing import Any
from urllib.parse import parse_qs

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from portal.core.client import ClientInfo
from portal.core.tokens import new_token
from portal.identity.provider.notices import deliver_partner_notices
from portal.identity.provider.partners import BACKCHANNEL_EVENT
from portal.identity.provider.server import pairwise_sub
from portal.models.accounts import Account, AccountStatus, Session
from portal.models.audit import AuditEvent
from portal.models.provider import PartnerGrant, PartnerNotice
from portal.support.accounts import set_disabled
from portal.support.privacy import erase_account
from tests.helpers import PUBLIC_URL, auth_params, exchange, get_code, partner, signed_in, userinfo


class LogoutReceiver:
    """A partner's back-channel logout endpoint on loopback: a real HTTP listener that keeps what it was sent."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[dict[str, list[str]]] = asyncio.Queue()
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> LogoutReceiver:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/backchannel-logout"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        length = int(re.search(r"(?im)^content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
        body = (await reader.readexactly(length)).decode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()
        await self.received.put(parse_qs(body))


async def partner_tokens(client: httpx.AsyncClient, client_id: str, secret: str | None) -> dict[str, Any]:
    verifier = new_token()
    code = (await get_code(client, auth_params(client_id, verifier)))["code"]
    response = await exchange(client, client_id, secret, code, verifier)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def refresh(client: httpx.AsyncClient, client_id: str, secret: str | None, token: str) -> httpx.Response:
    return await client.post(
        "/oauth/token", data=dict(grant_type="refresh_token", refresh_token=token), auth=(client_id, secret or "")
    )


async def assert_dead(client: httpx.AsyncClient, client_id: str, secret: str | None, tokens: dict[str, Any]) -> None:
    assert (await userinfo(client, tokens["access_token"])).status_code == 401
    refused = await refresh(client, client_id, secret, tokens["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


async def test_sign_out_of_other_devices_ends_partner_tokens_and_tells_the_partner(client, gql, make_account, rt):
    account = await signed_in(client, gql, make_account)
    async with LogoutReceiver() as receiver:
        client_id, secret = await partner(rt, first_party=True, backchannel_logout_uri=receiver.url)
        quiet_id, quiet_secret = await partner(rt, first_party=True)  # no back-channel URI: revoked all the same
        tokens = await partner_tokens(client, client_id, secret)
        quiet = await partner_tokens(client, quiet_id, quiet_secret)
        assert (await userinfo(client, tokens["access_token"])).status_code == 200

        page = await client.get("/account")
        csrf = html.unescape(re.search(r'name="csrf" value="([^"]*)"', page.text).group(1))  # type: ignore[union-attr]
        done = await client.post("/account/sessions/end-others", data={"csrf": csrf})
        assert done.status_code == 303 and done.headers["location"] == "/account?notice=others-ended"

        await assert_dead(client, client_id, secret, tokens)
        await assert_dead(client, quiet_id, quiet_secret, quiet)
        assert (await client.get("/account")).status_code == 200  # this device stays signed in
        event = await AuditEvent.filter(subject_id=account.id, action="sessions.revoked_others").order_by("-id").first()
        assert event is not None and event.details["partner_grants"] == 2

        assert await deliver_partner_notices(rt) == 1  # after commit, by the delivery loop
        posted = await asyncio.wait_for(receiver.received.get(), 10)
        keys = KeySet.import_key_set((await client.get("/oauth/jwks")).json())
        claims = jwt.decode(posted["logout_token"][0], keys, algorithms=["RS256"]).claims
        assert claims["iss"] == PUBLIC_URL and claims["aud"] == client_id
        assert claims["sub"] == pairwise_sub(rt, client_id, account.id)
        assert BACKCHANNEL_EVENT in claims["events"] and "nonce" not in claims
        assert receiver.received.empty()  # only the partner that registered a URI is called


async def test_disabling_an_account_ends_partner_tokens_and_sessions(client, gql, make_account, rt):
    account = await signed_in(client, gql, make_account)
    async with LogoutReceiver() as receiver:
        client_id, secret = await partner(rt, first_party=True, backchannel_logout_uri=receiver.url)
        tokens = await partner_tokens(client, client_id, secret)
        done = await set_disabled(rt, account.id, True, client=ClientInfo("192.0.2.7"), reason="stolen phone")
        assert isinstance(done, Account)
        await assert_dead(client, client_id, secret, tokens)
        assert not await Session.filter(account_id=account.id, revoked_at__isnull=True).exists()
        assert not await PartnerGrant.filter(account_id=account.id, revoked_at__isnull=True).exists()
        event = await AuditEvent.filter(subject_id=account.id, action="account.disabled").first()
        assert event is not None and event.details["partner_grants_revoked"] == 1
        assert await deliver_partner_notices(rt) == 1  # after commit, by the delivery loop
        posted = await asyncio.wait_for(receiver.received.get(), 10)
        assert "logout_token" in posted

    # Re-enabling restores sign-in, not the partner's old tokens.
    assert isinstance(await set_disabled(rt, account.id, False), Account)
    await assert_dead(client, client_id, secret, tokens)


async def test_provider_refuses_surviving_tokens_and_codes_of_a_disabled_account(client, gql, make_account, rt):
    account = await signed_in(client, gql, make_account)
    client_id, secret = await partner(rt, first_party=True)
    tokens = await partner_tokens(client, client_id, secret)
    verifier = new_token()
    code = (await get_code(client, auth_params(client_id, verifier)))["code"]

    # The account is disabled behind the services' back: its grants are still live rows.
    await Account.filter(id=account.id).update(status=AccountStatus.DISABLED)
    assert await PartnerGrant.filter(account_id=account.id, revoked_at__isnull=True).exists()
    await assert_dead(client, client_id, secret, tokens)
    late = await exchange(client, client_id, secret, code, verifier)
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"

    # Active again: the same tokens work, so it was the account's state that refused them.
    await Account.filter(id=account.id).update(status=AccountStatus.ACTIVE)
    assert (await userinfo(client, tokens["access_token"])).status_code == 200


async def test_erasure_ends_partner_tokens_and_tells_the_partner(client, gql, make_account, rt):
    account = await signed_in(client, gql, make_account)
    async with LogoutReceiver() as receiver:
        client_id, secret = await partner(rt, first_party=True, backchannel_logout_uri=receiver.url)
        tokens = await partner_tokens(client, client_id, secret)
        counts = await erase_account(rt, account.id)
        assert isinstance(counts, dict) and counts["partner_grants_revoked"] == 1
        await assert_dead(client, client_id, secret, tokens)
        assert await deliver_partner_notices(rt) == 1  # after commit, by the delivery loop
        posted = await asyncio.wait_for(receiver.received.get(), 10)
        keys = KeySet.import_key_set((await client.get("/oauth/jwks")).json())
        claims = jwt.decode(posted["logout_token"][0], keys, algorithms=["RS256"]).claims
        assert claims["sub"] == pairwise_sub(rt, client_id, account.id)


async def test_back_channel_logout_leaves_after_commit_and_is_retried(client, gql, make_account, rt, clock):
    """Written in the revoking transaction (a rollback tells nobody), sent by the delivery loop, retried
    with backoff while the partner is unreachable, and sent once when it answers again."""
    from tortoise.transactions import in_transaction

    from portal.identity.provider import revoke_partner_tokens

    account = await signed_in(client, gql, make_account)
    async with LogoutReceiver() as receiver:
        client_id, secret = await partner(rt, first_party=True, backchannel_logout_uri=receiver.url)
        await partner_tokens(client, client_id, secret)

        class Abandon(Exception):
            pass

        try:
            async with in_transaction():
                assert await revoke_partner_tokens(rt, account.id) == 1
                raise Abandon
        except Abandon:
            pass
        assert not await PartnerNotice.filter(client_id=client_id).exists()  # rolled back: nobody is told
        assert await PartnerGrant.filter(client_id=client_id, revoked_at__isnull=True).exists()

        async with in_transaction():
            await revoke_partner_tokens(rt, account.id)
    # The partner is unreachable now: the attempt fails and is scheduled again.
    assert await deliver_partner_notices(rt) == 0
    notice = await PartnerNotice.get(client_id=client_id)
    assert notice.attempts == 1 and notice.sent_at is None and notice.last_error
    assert await deliver_partner_notices(rt) == 0  # not due yet: nothing is tried
    assert (await PartnerNotice.get(id=notice.id)).attempts == 1

    async with LogoutReceiver() as back:
        from portal.models.provider import OidcClient

        await OidcClient.filter(id=client_id).update(backchannel_logout_uri=back.url)  # it came back elsewhere
        clock.advance(31)
        assert await deliver_partner_notices(rt) == 1
        posted = await asyncio.wait_for(back.received.get(), 10)
        assert "logout_token" in posted
        clock.advance(3600)
        assert await deliver_partner_notices(rt) == 0  # sent once
        assert back.received.empty()
