"""The provider's endpoints as async services: load what Authlib needs, run it, persist what it decided."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode
from uuid import UUID

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError, InvalidScopeError, OAuth2Error
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError
from joserfc.jwk import KeySet
from tortoise.transactions import in_transaction

from portal.core.runtime import Runtime
from portal.identity.provider.keys import keyring_for, published_keys
from portal.identity.provider.server import (
    ACCESS,
    CODE,
    CODE_TTL_SECONDS,
    REFRESH,
    Loaded,
    PlainRequest,
    PortalRequest,
    Reply,
    Server,
    bound,
    claims_for,
    known_scopes,
    pairwise_sub,
)
from portal.identity.reauth import REAUTH_WINDOW_SECONDS
from portal.identity.sessions import revoke_sessions
from portal.models.accounts import Session
from portal.models.provider import AuthorizationCode, Consent, OidcClient, PartnerGrant, PartnerRefreshToken

AUTHORIZE_PATH = "/oauth/authorize"
CONSENT = "oidc-consent-form"
LOGOUT = "oidc-logout-form"
RESUME = "oidc-resume"
RESUME_PARAM = "resume"  # added by /login to the authorization request it resumes (see resume_path)
# Parameters of ours (or once ours) that never count as the partner's request: a partner sending them gains nothing.
NOT_THE_PARTNERS = (RESUME_PARAM, "login_after")


@dataclass(frozen=True)
class ErrorPage:
    """Refused without redirecting: the client or its redirect_uri cannot be trusted."""

    error: str
    description: str


@dataclass(frozen=True)
class Redirect:
    location: str


@dataclass(frozen=True)
class NeedLogin:
    """Send the browser to /login?next=<next_path>; `again`: ask for the password even though a session exists."""

    next_path: str
    again: bool = False


@dataclass(frozen=True)
class NeedConsent:
    client_name: str
    scopes: list[str]
    query: str
    csrf: str


@dataclass(frozen=True)
class NeedLogoutConfirmation:
    query: str
    csrf: str
    client_name: str | None


@dataclass(frozen=True)
class LoggedOut:
    """The portal session ended; go to `location` when the partner gave a registered one."""

    location: str | None


AuthorizeOutcome = ErrorPage | Redirect | NeedLogin | NeedConsent
EndSessionOutcome = ErrorPage | NeedLogoutConfirmation | LoggedOut


def _form_token(rt: Runtime, purpose: str, session: Session, query: str) -> str:
    return hmac.new(rt.tokens.key(purpose), f"{session.id}|{query}".encode(), hashlib.sha256).hexdigest()


class Provider:
    """One per process: the Authlib server and the key ring, shared by every request."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.server = Server(rt)
        self.keys = keyring_for(rt)
        self.issuer = rt.settings.public_url

    def _loaded(self, session: Session | None = None) -> Loaded:
        loaded = Loaded(self.rt, self.keys)
        if session is not None:
            loaded.auth_time = int(proved_at(session).timestamp())
            loaded.auth_method = session.auth_method
        return loaded

    async def _client(self, loaded: Loaded, client_id: str | None) -> OidcClient | None:
        if not client_id or len(client_id) > 64:
            return None
        row = await OidcClient.get_or_none(id=client_id)
        if row is not None:
            loaded.clients[row.id] = row
            loaded.client_id = row.id
        return row

    def _error(self, error: OAuth2Error, state: str | None) -> ErrorPage | Redirect:
        if not error.redirect_uri:
            return ErrorPage(error.error or "invalid_request", error.description or "")
        if state:
            error.state = state
        reply = self.server.handle_response(*error())
        return Redirect(add_params_to_uri(reply.location, {"iss": self.issuer}))  # RFC 9207, errors too

    # --- the authorization endpoint ---------------------------------------------------------------

    async def _validate(
        self, args: list[tuple[str, str]], session: Session | None
    ) -> ErrorPage | Redirect | tuple[OidcClient, PortalRequest, Any, Loaded]:
        await self.keys.load(self.rt)
        data = dict(args)
        loaded = self._loaded(session)
        row = await self._client(loaded, data.get("client_id"))
        if row is None:
            return ErrorPage("invalid_client", "Unknown client.")
        if data.get("redirect_uri") not in row.redirect_uris:  # exact string match, checked before anything else
            return ErrorPage("invalid_request", "The redirect_uri is not registered for this client.")
        args = [(k, known_scopes(v) if k == "scope" else v) for k, v in args]  # unknown scopes: ignored
        request = PortalRequest(
            PlainRequest("GET", self.issuer + AUTHORIZE_PATH + "?" + urlencode(args), {}, args=args)
        )
        with bound(loaded):
            try:
                grant = self.server.get_consent_grant(request, end_user=session.account if session else None)
            except OAuth2Error as error:
                return self._error(error, data.get("state"))
        if "openid" not in (request.scope or "").split():
            return self._error(
                InvalidScopeError("The 'openid' scope is required.", redirect_uri=data["redirect_uri"]),
                data.get("state"),
            )
        return row, request, grant, loaded

    async def authorize(self, args: list[tuple[str, str]], session: Session | None) -> AuthorizeOutcome:
        """GET /oauth/authorize: refuse, redirect with an error, ask to sign in, ask consent, or issue a code.

        Whether the resident must prove the password again (`prompt=login`, `max_age`) is decided by the
        server's record of the session's last proof; the one thing the request may carry is the resume mark
        that /login adds for the session it has just proved (`resume_path`), bound to this exact request.
        """
        resume = next((v for k, v in args if k == RESUME_PARAM), None)
        args = [(k, v) for k, v in args if k not in NOT_THE_PARTNERS]
        checked = await self._validate(args, session)
        if not isinstance(checked, tuple):
            return checked
        row, request, grant, loaded = checked
        data = dict(args)
        state = data.get("state")
        redirect_uri = data["redirect_uri"]
        prompts = set(data.get("prompt", "").split())
        if "none" in prompts and len(prompts) > 1:
            return self._error(InvalidRequestError("Invalid 'prompt' parameter.", redirect_uri=redirect_uri), state)
        max_age: int | None = None
        if data.get("max_age"):
            try:
                max_age = int(data["max_age"])
            except ValueError:
                max_age = -1
            if not 0 <= max_age <= 10**9:
                return self._error(
                    InvalidRequestError("Invalid 'max_age' parameter.", redirect_uri=redirect_uri), state
                )
        query = urlencode(args)
        if session is None:
            need_login = True
        elif _resumed(self.rt, session, query, resume):
            need_login = False  # the resident proved the password for this very request a moment ago
        else:
            age = self.rt.clock.now() - proved_at(session)
            need_login = "login" in prompts or (max_age is not None and age > timedelta(seconds=max_age))
        if need_login:
            if "none" in prompts:
                return self._error(LoginRequiredError(redirect_uri=redirect_uri), state)
            return NeedLogin(AUTHORIZE_PATH + "?" + query, again=session is not None)
        assert session is not None

        scope = request.scope or ""
        if not row.first_party:
            consent = await Consent.get_or_none(account_id=session.account_id, client_id=row.id)  # type: ignore[attr-defined]
            covered = consent is not None and set(scope.split()) <= set(consent.scope.split())
            if "consent" in prompts or not covered:
                if "none" in prompts:
                    return self._error(ConsentRequiredError(redirect_uri=redirect_uri), state)
                return NeedConsent(row.name, scope.split(), query, _form_token(self.rt, CONSENT, session, query))
        return await self._issue(request, grant, loaded, session)

    async def decide(self, query: str, csrf: str, allow: bool, session: Session | None) -> AuthorizeOutcome:
        """POST of the consent page: the resident allowed or refused; the answer goes back to the client."""
        if session is None:
            return NeedLogin(AUTHORIZE_PATH + "?" + query)
        if not hmac.compare_digest(csrf.encode(), _form_token(self.rt, CONSENT, session, query).encode()):
            return ErrorPage("invalid_request", "The form has expired; please start again.")
        args = parse_qsl(query, keep_blank_values=True)
        checked = await self._validate(args, session)
        if not isinstance(checked, tuple):
            return checked
        row, request, grant, loaded = checked
        if allow:
            await grant_consent(self.rt, session.account_id, row.id, request.scope or "")  # type: ignore[attr-defined]
            return await self._issue(request, grant, loaded, session)
        with bound(loaded):
            reply = self.server.create_authorization_response(request, grant_user=None, grant=grant)
        return Redirect(reply.location)

    async def _issue(self, request: PortalRequest, grant: Any, loaded: Loaded, session: Session) -> Redirect:
        with bound(loaded):
            reply = self.server.create_authorization_response(request, grant_user=session.account, grant=grant)
        pending = loaded.pending_code
        if pending is not None:
            now = self.rt.clock.now()
            await AuthorizationCode.create(
                code_hash=self.rt.tokens.digest(CODE, pending["code"]),
                client_id=pending["client_id"],
                account=pending["account"],
                redirect_uri=pending["redirect_uri"],
                scope=pending["scope"],
                nonce=pending["nonce"],
                code_challenge=pending["code_challenge"],
                code_challenge_method="S256",
                auth_time=proved_at(session),
                auth_method=session.auth_method,
                expires_at=now + timedelta(seconds=CODE_TTL_SECONDS),
            )
        return Redirect(reply.location)

    # --- the token endpoint -----------------------------------------------------------------------

    async def token(self, plain: PlainRequest) -> Reply:
        """POST /oauth/token: authorization_code (PKCE S256) and refresh_token (rotating) grants."""
        await self.keys.load(self.rt)
        form = dict(plain.form)
        loaded = self._loaded()
        await self._client(loaded, _basic_client_id(plain.headers) or form.get("client_id"))
        tokens = self.rt.tokens
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code" and 0 < len(form.get("code", "")) <= 128:
            code = (
                await AuthorizationCode.filter(code_hash=tokens.digest(CODE, form["code"]))
                .select_related("account")
                .first()
            )
            if code is not None and code.used_at is not None:
                await self._revoke_grants(code_hash=code.code_hash)  # a code used twice: its tokens die
            loaded.code = code
        elif grant_type == "refresh_token" and 0 < len(form.get("refresh_token", "")) <= 128:
            refresh = (
                await PartnerRefreshToken.filter(token_hash=tokens.digest(REFRESH, form["refresh_token"]))
                .select_related("grant__account")
                .first()
            )
            if refresh is not None and refresh.used_at is not None:
                await self._revoke_grants(id=refresh.grant_id)  # type: ignore[attr-defined]  # replay: the family dies
            loaded.refresh = refresh
        with bound(loaded):
            reply: Reply = self.server.create_token_response(PortalRequest(plain))
        if reply.status != 200 or loaded.pending_token is None:
            return reply
        return await self._persist_token(loaded, reply)

    async def _persist_token(self, loaded: Loaded, reply: Reply) -> Reply:
        rt = self.rt
        s = rt.settings
        now = rt.clock.now()
        token = loaded.pending_token
        assert token is not None
        access_hash = rt.tokens.digest(ACCESS, token["access_token"])
        async with in_transaction():
            if loaded.spend_code is not None:
                code = loaded.spend_code
                spent = await AuthorizationCode.filter(id=code.id, used_at__isnull=True, expires_at__gt=now).update(
                    used_at=now
                )
                if not spent:  # a concurrent use won the race: treat as reuse
                    await self._revoke_grants(code_hash=code.code_hash)
                    return Reply(*InvalidGrantError()())
                absolute = now + timedelta(seconds=s.session_max_age)
                grant = await PartnerGrant.create(
                    client_id=code.client_id,  # type: ignore[attr-defined]
                    account_id=code.account_id,  # type: ignore[attr-defined]
                    code_hash=code.code_hash,
                    scope=code.scope,
                    access_hash=access_hash,
                    access_expires_at=min(now + timedelta(seconds=s.access_token_ttl), absolute),
                    auth_time=code.auth_time,
                    auth_method=code.auth_method,
                    created_at=now,
                    expires_at=absolute,
                )
            elif loaded.spend_refresh is not None:
                old = loaded.spend_refresh
                spent = await PartnerRefreshToken.filter(id=old.id, used_at__isnull=True, expires_at__gt=now).update(
                    used_at=now
                )
                if not spent:
                    await self._revoke_grants(id=old.grant_id)  # type: ignore[attr-defined]
                    return Reply(*InvalidGrantError()())
                grant = old.grant
                grant.access_hash = access_hash
                grant.access_expires_at = min(now + timedelta(seconds=s.access_token_ttl), grant.expires_at)
                await grant.save(update_fields=["access_hash", "access_expires_at"])
            else:
                raise RuntimeError("a token was issued without a code or refresh token to spend")
            if token.get("refresh_token"):
                await PartnerRefreshToken.create(
                    grant=grant,
                    token_hash=rt.tokens.digest(REFRESH, token["refresh_token"]),
                    expires_at=min(now + timedelta(seconds=s.refresh_token_ttl), grant.expires_at),
                )
        return reply

    async def _revoke_grants(self, **where: Any) -> int:
        return await PartnerGrant.filter(revoked_at__isnull=True, **where).update(revoked_at=self.rt.clock.now())

    # --- revocation, userinfo, logout -------------------------------------------------------------

    async def _load_token(self, plain: PlainRequest) -> Loaded:
        """The calling client and the token named in the form (a refresh token or an access token's grant)."""
        form = dict(plain.form)
        loaded = self._loaded()
        await self._client(loaded, _basic_client_id(plain.headers) or form.get("client_id"))
        token = form.get("token", "")
        if 0 < len(token) <= 128:
            loaded.refresh = (
                await PartnerRefreshToken.filter(token_hash=self.rt.tokens.digest(REFRESH, token))
                .select_related("grant__account")
                .first()
            )
            loaded.grant_by_access = (
                await PartnerGrant.filter(access_hash=self.rt.tokens.digest(ACCESS, token))
                .select_related("account")
                .first()
            )
        return loaded

    async def introspect(self, plain: PlainRequest) -> Reply:
        """POST /oauth/introspect (RFC 7662): is this token of mine live, for whom, with which scope."""
        loaded = await self._load_token(plain)
        with bound(loaded):
            reply: Reply = self.server.create_endpoint_response("introspection", PortalRequest(plain))
        return reply

    async def revoke(self, plain: PlainRequest) -> Reply:
        """POST /oauth/revoke (RFC 7009): a refresh token ends its family; an access token ends itself."""
        loaded = await self._load_token(plain)
        with bound(loaded):
            reply: Reply = self.server.create_endpoint_response("revocation", PortalRequest(plain))
        target = loaded.revoke
        if isinstance(target, PartnerRefreshToken):
            await self._revoke_grants(id=target.grant_id)  # type: ignore[attr-defined]
        elif isinstance(target, PartnerGrant):
            await PartnerGrant.filter(id=target.id).update(access_expires_at=self.rt.clock.now())
        return reply

    async def userinfo(self, access_token: str | None) -> tuple[int, dict[str, Any], dict[str, str]]:
        """GET/POST /oauth/userinfo with `Authorization: Bearer`: the claims the granted scopes allow."""
        now = self.rt.clock.now()
        grant = None
        if access_token and len(access_token) <= 128:
            grant = (
                await PartnerGrant.filter(
                    access_hash=self.rt.tokens.digest(ACCESS, access_token),
                    revoked_at__isnull=True,
                    access_expires_at__gt=now,
                )
                .select_related("account")
                .first()
            )
        if grant is None or not grant.account.is_active or "openid" not in grant.scope.split():
            challenge = 'Bearer error="invalid_token"' if access_token else "Bearer"
            return 401, {"error": "invalid_token"}, {"WWW-Authenticate": challenge}
        return 200, claims_for(self.rt, grant.account, grant.client_id, grant.scope), {}  # type: ignore[attr-defined]

    async def end_session(
        self, args: list[tuple[str, str]], session: Session | None, csrf: str | None = None
    ) -> EndSessionOutcome:
        """RP-initiated logout: with a valid `id_token_hint` at once, otherwise after the resident confirms."""
        await self.keys.load(self.rt)
        data = dict(args)
        loaded = self._loaded(session)
        loaded.published = KeySet.import_key_set({"keys": await published_keys(self.rt)})
        client_id = data.get("client_id") or _unverified_aud(data.get("id_token_hint"))
        await self._client(loaded, client_id)
        request = PortalRequest(PlainRequest("GET", self.issuer + "/oauth/logout", {}, args=args))
        with bound(loaded):
            try:
                checked = self.server.validate_endpoint_request("end_session", request)
            except OAuth2Error as error:
                return ErrorPage(error.error or "invalid_request", error.description or "")
        claims = checked.id_token_claims
        if claims is not None and claims.get("iss") != self.issuer:
            return ErrorPage("invalid_request", "The id_token_hint was not issued here.")
        client = checked.client
        matches = (
            claims is not None
            and client is not None
            and (session is None or claims.get("sub") == pairwise_sub(self.rt, client.row.id, session.account_id))  # type: ignore[attr-defined]
        )
        query = urlencode(args)
        if session is not None and not matches:
            if csrf is None or not hmac.compare_digest(
                csrf.encode(), _form_token(self.rt, LOGOUT, session, query).encode()
            ):
                return NeedLogoutConfirmation(
                    query, _form_token(self.rt, LOGOUT, session, query), client.row.name if client else None
                )
        if session is not None:
            await revoke_sessions(self.rt, session_ids=[session.id])
        return LoggedOut(checked.redirect_uri if matches else None)


def proved_at(session: Session) -> datetime:
    """When the resident last proved who they are in this session (identity.reauth's record): `auth_time`."""
    return session.authenticated_at or session.created_at


def resume_path(rt: Runtime, next_path: str, session_id: UUID) -> str:
    """/login's way back to the authorization request it signed the resident in for.

    The mark is an HMAC of the new session's id and the exact request, so it cannot be made by a partner (nor
    reused by another session or request); with it the request is not sent to sign in again (no loop), yet
    `auth_time` and the decision stay the server's record of the proof.
    """
    path, _, query = next_path.partition("?")
    args = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in NOT_THE_PARTNERS]
    clean = urlencode(args)
    return f"{path}?{clean}&{RESUME_PARAM}={_resume_mark(rt, session_id, clean)}"


def _resume_mark(rt: Runtime, session_id: UUID, query: str) -> str:
    return hmac.new(rt.tokens.key(RESUME), f"{session_id}|{query}".encode(), hashlib.sha256).hexdigest()


def _resumed(rt: Runtime, session: Session, query: str, mark: str | None) -> bool:
    """The session was proved by a sign-in made for this exact request, within the re-authentication window."""
    if not mark or len(mark) != 64:
        return False
    if rt.clock.now() - proved_at(session) > timedelta(seconds=REAUTH_WINDOW_SECONDS):
        return False
    return hmac.compare_digest(mark.encode(), _resume_mark(rt, session.id, query).encode())


def _basic_client_id(headers: dict[str, str]) -> str | None:
    from authlib.oauth2.rfc6749.util import extract_basic_authorization

    client_id, _ = extract_basic_authorization(headers)
    return client_id if isinstance(client_id, str) else None


def _unverified_aud(id_token: str | None) -> str | None:
    """Which client an id_token_hint names, only to load that client; Authlib verifies the token itself."""
    if not id_token or id_token.count(".") != 2 or len(id_token) > 8000:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(id_token.split(".")[1] + "=="))
    except (ValueError, binascii.Error):
        return None
    aud = payload.get("aud") if isinstance(payload, dict) else None
    return aud if isinstance(aud, str) else None


async def grant_consent(rt: Runtime, account_id: Any, client_id: str, scope: str) -> None:
    """Remembers what the resident allowed this client; new scopes are added to the old ones."""
    async with in_transaction():
        consent = await Consent.filter(account_id=account_id, client_id=client_id).select_for_update().first()
        if consent is None:
            await Consent.create(account_id=account_id, client_id=client_id, scope=scope, granted_at=rt.clock.now())
            return
        merged = sorted(set(consent.scope.split()) | set(scope.split()))
        consent.scope = " ".join(merged)
        consent.granted_at = rt.clock.now()
        await consent.save(update_fields=["scope", "granted_at"])
