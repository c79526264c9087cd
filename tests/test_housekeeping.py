"""Housekeeping (issue 6): expired rows go about hourly, and what replay detection needs stays until it cannot matter."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from portal.api import background
from portal.core.client import ClientInfo
from portal.core.tokens import new_token
from portal.identity.housekeeping import KEEP_AFTER_EXPIRY, prune_expired
from portal.identity.provider.flow import grant_consent
from portal.identity.provider.partners import add_client
from portal.identity.provider.server import CODE, REFRESH
from portal.identity.reset import TOKEN_PURPOSE
from portal.identity.sessions import issue_session, revoke_sessions, rotate
from portal.mail import worker
from portal.models.accounts import RefreshToken, Session
from portal.models.federation import FederationFlow, LoginCode
from portal.models.provider import AuthorizationCode, Consent, PartnerGrant, PartnerRefreshToken
from portal.models.reset import PasswordResetToken

DAY = 24 * 3600
CLIENT = ClientInfo("192.0.2.50", "pytest")


async def flow(rt) -> FederationFlow:
    now = rt.clock.now()
    return await FederationFlow.create(
        state_hash=rt.tokens.digest("test-state", new_token()), provider="city", nonce=new_token(),
        code_verifier=new_token(), return_to="/account", created_at=now, expires_at=now + timedelta(seconds=600),
    )


async def login_code(rt, account_id, used: bool) -> LoginCode:
    now = rt.clock.now()
    return await LoginCode.create(
        code_hash=rt.tokens.digest("test-code", new_token()), account_id=account_id, created_at=now,
        expires_at=now + timedelta(seconds=60), used_at=now if used else None,
    )


async def partner_code(rt, client_id, account, used: bool) -> AuthorizationCode:
    now = rt.clock.now()
    return await AuthorizationCode.create(
        code_hash=rt.tokens.digest(CODE, new_token()), client_id=client_id, account=account,
        redirect_uri="https://partner.example.com/cb", scope="openid", code_challenge="x" * 43,
        auth_time=now, expires_at=now + timedelta(seconds=60), used_at=now if used else None,
    )


async def partner_grant(rt, client_id, account, code: AuthorizationCode) -> tuple[PartnerGrant, PartnerRefreshToken]:
    now = rt.clock.now()
    absolute = now + timedelta(seconds=rt.settings.session_max_age)
    grant = await PartnerGrant.create(
        client_id=client_id, account=account, code_hash=code.code_hash, scope="openid",
        access_hash=rt.tokens.digest("test-access", new_token()), access_expires_at=now + timedelta(seconds=900),
        auth_time=now, created_at=now, expires_at=absolute,
    )
    refresh = await PartnerRefreshToken.create(
        grant=grant, token_hash=rt.tokens.digest(REFRESH, new_token()), expires_at=absolute, used_at=now
    )
    return grant, refresh


async def exists(model, row) -> bool:
    return bool(await model.filter(id=row.id).exists())


async def test_prune_expired_keeps_what_replay_detection_needs_and_removes_the_rest(rt, clock, make_account):
    account = await make_account()
    max_age = rt.settings.session_max_age
    live = await issue_session(rt, account, CLIENT)
    rotated = await rotate(rt, live.refresh_token, CLIENT)
    assert rotated is not None
    revoked = await issue_session(rt, account, CLIENT)
    await revoke_sessions(rt, session_ids=[revoked.session.id])
    flows = [await flow(rt), await flow(rt)]
    codes = [await login_code(rt, account.id, used=True), await login_code(rt, account.id, used=False)]
    now = rt.clock.now()
    reset_token = await PasswordResetToken.create(
        account_id=account.id, token_hash=rt.tokens.digest(TOKEN_PURPOSE, new_token()), created_at=now,
        expires_at=now + timedelta(seconds=rt.settings.reset_token_ttl),
    )
    client_id = (await add_client(rt, name="Счётчики", redirect_uris=["https://partner.example.com/cb"])).client.id
    await grant_consent(rt, account.id, client_id, "openid")
    unused_code = await partner_code(rt, client_id, account, used=False)
    used_code = await partner_code(rt, client_id, account, used=True)
    grant, partner_refresh = await partner_grant(rt, client_id, account, used_code)

    # Within a day of expiring, everything stays (for support questions).
    clock.advance(KEEP_AFTER_EXPIRY.total_seconds() - 3600)
    await prune_expired(rt)
    assert all([await exists(FederationFlow, f) for f in flows])
    assert all([await exists(LoginCode, c) for c in codes])
    assert await exists(PasswordResetToken, reset_token) and await exists(AuthorizationCode, unused_code)

    # Two days on: flows, login codes (used or not), the reset token and the unused partner code are gone.
    clock.advance(DAY + 2 * 3600)
    counts = await prune_expired(rt)
    assert counts["federation_flows"] >= 2 and counts["login_codes"] >= 2 and counts["reset_tokens"] >= 1
    assert not any([await exists(FederationFlow, f) for f in flows])
    assert not any([await exists(LoginCode, c) for c in codes])
    assert not await exists(PasswordResetToken, reset_token) and not await exists(AuthorizationCode, unused_code)
    # Sessions, revoked ones included, keep their spent refresh tokens: a replay is still caught.
    assert await exists(Session, revoked.session) and await exists(AuthorizationCode, used_code)
    assert await exists(PartnerGrant, grant) and await exists(PartnerRefreshToken, partner_refresh)
    assert await rotate(rt, live.refresh_token, CLIENT) is None  # the spent one, replayed
    assert (await Session.get(id=live.session.id)).revoked_at is not None  # the family died: detected

    # Past the absolute expiry (plus the day): sessions, their refresh tokens, grants and the used code go.
    clock.advance(max_age)
    counts = await prune_expired(rt)
    assert counts["sessions"] >= 2 and counts["refresh_tokens"] >= 3 and counts["partner_grants"] >= 1
    for model, row in ((Session, live.session), (Session, revoked.session), (PartnerGrant, grant),
                       (PartnerRefreshToken, partner_refresh), (AuthorizationCode, used_code)):
        assert not await exists(model, row), model
    assert not await RefreshToken.filter(session_id__in=[live.session.id, revoked.session.id]).exists()
    assert await Consent.filter(account_id=account.id, client_id=client_id).exists()  # consents are records
    assert (await prune_expired(rt))["sessions"] == 0  # idempotent


async def test_a_live_session_is_never_pruned(rt, clock, make_account):
    account = await make_account()
    issued = await issue_session(rt, account, CLIENT)
    clock.advance(rt.settings.session_max_age - 3600)  # an hour before its absolute expiry
    await prune_expired(rt)
    assert await exists(Session, issued.session)
    assert await RefreshToken.filter(session_id=issued.session.id).exists()


async def test_the_background_loop_runs_housekeeping(rt, clock):
    stale = await flow(rt)
    clock.advance(2 * DAY)
    assert prune_expired in background.HOUSEKEEPING
    async with worker.running(rt, poll_seconds=0.05, housekeeping=background.HOUSEKEEPING):
        for _ in range(200):  # the first round prunes at once; then about hourly
            if not await exists(FederationFlow, stale):
                break
            await asyncio.sleep(0.05)
    assert not await exists(FederationFlow, stale)
    assert worker.HOUSEKEEPING_SECONDS == 3600
