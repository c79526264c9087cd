"""Federated sign-in through OpenID Connect providers, with Authlib as the protocol client.

The flow, like password sign-in and reset, is an explicit state machine: `start` writes a single-use flow
(state, nonce, PKCE verifier, where to return, whom to link) bound to the browser by a cookie value;
`complete` spends it, checks RFC 9207's `iss`, exchanges the code, validates the ID token and ends in a
session (browser) or a one-time login code (mobile app) that `exchange_login_code` trades for a session.

Authlib's Starlette client keeps state in `request.session`; we keep it server-side instead (one row per
flow, nothing on /graphql's path) and use Authlib's httpx client for PKCE, the authorization URL and the
token request, and joserfc/Authlib's `CodeIDToken` for the ID token.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit
from uuid import UUID

from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from portal.core.client import ClientInfo
from portal.core.errors import FieldProblem, Invalid, TooMany
from portal.core.providers import HTTP_TIMEOUT, ProviderConfig, ProviderUnavailable
from portal.core.runtime import Runtime
from portal.core.throttle import Limit
from portal.core.tokens import new_token
from portal.identity.identifiers import has_control_characters, normalize_email
from portal.identity.sessions import IssuedSession, issue_session
from portal.models.accounts import Account, AccountStatus
from portal.models.audit import record, record_statement
from portal.models.federation import FederatedIdentity, FederationFlow, LoginCode

log = logging.getLogger("portal.federation")

FLOW_TTL = 600  # seconds between starting a sign-in and coming back from the provider
LOGIN_CODE_TTL = 60
ID_TOKEN_LEEWAY = 60  # clock skew tolerated on exp/iat
ID_TOKEN_MAX_AGE = 600  # an ID token issued longer ago than this is not fresh from the token endpoint
RETURN_TO_MAX = 2048
DEFAULT_RETURN_PATH = "/account"
CALLBACK_LIMIT = Limit("federation.callback", 30, 60)
CODE_LIMIT = Limit("federation.code", 10, 60)
STATE, BINDING, LOGIN_CODE = "fed-state", "fed-binding", "fed-login-code"
FULL_NAME_FALLBACK = "Житель"


# ---- results -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Started:
    authorization_url: str
    binding: str | None  # the cookie value binding the flow to this browser; None for a mobile app


@dataclass(frozen=True, slots=True)
class SignedIn:
    issued: IssuedSession
    return_to: str


@dataclass(frozen=True, slots=True)
class CodeIssued:
    redirect_url: str  # the app's return URL with `code=<one-time login code>`


@dataclass(frozen=True, slots=True)
class Failed:
    """Why a callback ended without a session; `reason` is an i18n key for the error page."""

    reason: str


# reasons, each a message in api/i18n.py
FAILED_STATE = "FED_STATE_INVALID"  # missing, unknown, expired, replayed or from another browser
FAILED_CANCELLED = "FED_CANCELLED"  # the provider answered with an error (the resident declined, ...)
FAILED_PROVIDER = "FED_PROVIDER_FAILED"  # iss, code exchange or ID token did not check out
FAILED_EMAIL_TAKEN = "FED_EMAIL_TAKEN"  # a local account holds the e-mail: sign in with the password to link
FAILED_LINKED_ELSEWHERE = "FED_LINKED_ELSEWHERE"  # this provider identity belongs to another account
FAILED_ACCOUNT = "FED_ACCOUNT_UNAVAILABLE"  # the account is disabled or gone

CallbackOutcome = SignedIn | CodeIssued | Failed | TooMany


@dataclass(frozen=True, slots=True)
class Link:
    provider: str
    provider_name: str
    email: str | None
    linked_at: Any  # datetime


@dataclass(frozen=True, slots=True)
class Unlinked:
    provider: str


@dataclass(frozen=True, slots=True)
class NotLinked:
    """The account has no identity at that provider."""


@dataclass(frozen=True, slots=True)
class LastWayToSignIn:
    """Unlinking would leave the account without a password and without any provider."""


@dataclass(frozen=True, slots=True)
class CodeRefused:
    """Unknown, expired or spent login code, or a link code presented by another account: one answer."""


# ---- return URLs ---------------------------------------------------------------------------------------


def check_return_to(rt: Runtime, value: str | None) -> tuple[str, bool]:
    """The absolute return URL and whether it belongs to a mobile app (non-http scheme), or a FieldProblem.

    Allowed: a path on the portal (`/account`), a URL on the portal's own origin, or an entry of
    `PORTAL_ALLOWED_RETURN_URLS` matched exactly, with its own query string appended (`entry?…`), or, for
    an entry ending in `/`, any URL that starts with it. Fragments, credentials, spaces and backslashes never.
    """
    s = rt.settings
    problem = FieldProblem("returnTo", "RETURN_URL_NOT_ALLOWED")
    if value is None or not value.strip():
        return s.public_url + DEFAULT_RETURN_PATH, False
    value = value.strip()
    if len(value) > RETURN_TO_MAX or has_control_characters(value) or any(c in value for c in " \\#"):
        raise problem
    if value.startswith("/"):
        if value.startswith("//"):
            raise problem
        return s.public_url + value, False
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if not scheme or "@" in parts.netloc:
        raise problem
    web = scheme in ("http", "https")
    if web and f"{scheme}://{parts.netloc.lower()}" == s.public_origin and parts.hostname:
        return value, False
    for entry in s.allowed_return_url_list:
        if value == entry or value.startswith(entry + "?") or (entry.endswith("/") and value.startswith(entry)):
            return value, not web
    raise problem


def with_query(url: str, **params: str) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


def callback_url(rt: Runtime, provider_id: str) -> str:
    return f"{rt.settings.public_url}/auth/federated/{provider_id}/callback"


# ---- start ---------------------------------------------------------------------------------------------


async def start(
    rt: Runtime, provider_id: str, return_to: str | None, client: ClientInfo, signed_in: Account | None
) -> Started | Invalid:
    """A new flow and the provider's authorization URL (code flow, PKCE S256, state, nonce)."""
    provider = rt.providers.get(provider_id)
    if provider is None:
        return Invalid.of(FieldProblem("provider", "UNKNOWN_PROVIDER"))
    try:
        target, mobile = check_return_to(rt, return_to)
    except FieldProblem as problem:
        return Invalid.of(problem)
    now = rt.clock.now()
    try:
        metadata = await rt.providers.metadata(provider, now.timestamp())
    except ProviderUnavailable as exc:
        log.warning("identity provider unavailable: %s", exc)
        return Invalid.of(FieldProblem("provider", "PROVIDER_UNAVAILABLE"))

    state, nonce, verifier = new_token(), new_token(), secrets.token_urlsafe(64)
    binding = None if mobile else new_token()
    async with _oauth_client(rt, provider) as oauth:
        url, _ = oauth.create_authorization_url(
            metadata["authorization_endpoint"], state=state, nonce=nonce, code_verifier=verifier
        )
    await FederationFlow.create(
        state_hash=rt.tokens.digest(STATE, state),
        binding_hash=rt.tokens.digest(BINDING, binding) if binding else None,
        provider=provider.id,
        nonce=nonce,
        code_verifier=verifier,
        return_to=target,
        mobile=mobile,
        link_account_id=signed_in.id if signed_in else None,
        created_at=now,
        expires_at=now + timedelta(seconds=FLOW_TTL),
    )
    return Started(authorization_url=url, binding=binding)


def _oauth_client(rt: Runtime, provider: ProviderConfig) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        scope=" ".join(provider.scopes),
        redirect_uri=callback_url(rt, provider.id),
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",  # noqa: S106 - a method name, not a secret
        timeout=HTTP_TIMEOUT,
    )


# ---- callback ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claims:
    issuer: str
    subject: str
    email: str | None  # normalised, and only when the provider says it is verified
    name: str | None


async def complete(
    rt: Runtime, provider_id: str, params: dict[str, str], binding: str | None, client: ClientInfo
) -> CallbackOutcome:
    """Handles the provider's redirect back: every check first, then one account decision."""
    too_many = await rt.throttle.hit(CALLBACK_LIMIT, client.address)
    if too_many:
        return too_many
    provider = rt.providers.get(provider_id)
    state = params.get("state")
    if provider is None or not state or len(state) > 128:
        return Failed(FAILED_STATE)
    flow = await _spend_flow(rt, provider.id, state, binding)
    if flow is None:
        await record(rt, "federation.failure", client=client, details={"provider": provider.id, "why": "state"})
        return Failed(FAILED_STATE)
    if params.get("error"):
        return Failed(FAILED_CANCELLED)
    try:
        claims = await _verify(rt, provider, flow, params)
    except _Rejected as exc:
        log.warning("federated sign-in through %s rejected: %s", provider.id, exc)
        await record(rt, "federation.failure", client=client, details={"provider": provider.id, "why": str(exc)[:200]})
        return Failed(FAILED_PROVIDER)

    if flow.link_account_id is not None:
        return await _finish_link(rt, provider, flow, claims, client)
    found = await _account_for(rt, provider, claims, client)
    if isinstance(found, Failed):
        return found
    return await _finish_sign_in(rt, provider, flow, found, client)


async def _spend_flow(rt: Runtime, provider_id: str, state: str, binding: str | None) -> FederationFlow | None:
    """The flow behind `state`, spent once: unknown, expired, used, or another browser's flow gives None."""
    now = rt.clock.now()
    flow = await FederationFlow.filter(state_hash=rt.tokens.digest(STATE, state)).first()
    if flow is None or flow.provider != provider_id or flow.used_at is not None or flow.expires_at <= now:
        return None
    if flow.binding_hash is not None and (
        binding is None
        or len(binding) > 128
        or not rt.tokens.equal(rt.tokens.digest(BINDING, binding), flow.binding_hash)
    ):
        return None  # a foreign browser does not even spend the flow
    spent = await FederationFlow.filter(id=flow.id, used_at__isnull=True).update(used_at=now)
    return flow if spent else None


class _Rejected(Exception):
    """The provider's answer did not check out (the message is for the log, never for the resident)."""


async def _verify(rt: Runtime, provider: ProviderConfig, flow: FederationFlow, params: dict[str, str]) -> Claims:
    now = rt.clock.now().timestamp()
    try:
        metadata = await rt.providers.metadata(provider, now)
    except ProviderUnavailable as exc:
        raise _Rejected(str(exc)) from exc
    # RFC 9207: the authorization response names its issuer; a mix-up sends another issuer's (or none).
    iss = params.get("iss")
    if iss is not None and iss != provider.issuer:
        raise _Rejected(f"authorization response iss {iss!r}")
    if iss is None and metadata.get("authorization_response_iss_parameter_supported") is True:
        raise _Rejected("authorization response without iss from a provider that promises it")
    code = params.get("code")
    if not code:
        raise _Rejected("no code")

    try:
        async with _oauth_client(rt, provider) as oauth:
            token = await oauth.fetch_token(
                metadata["token_endpoint"], code=code, code_verifier=flow.code_verifier, grant_type="authorization_code"
            )
    except Exception as exc:  # noqa: BLE001 - any transport or OAuth error is one rejection
        raise _Rejected(f"token request: {exc!r}"[:300]) from exc
    id_token = token.get("id_token")
    access_token = token.get("access_token")
    if not isinstance(id_token, str):
        raise _Rejected("no id_token in the token response")

    claims = await _validate_id_token(rt, provider, metadata, id_token, flow.nonce, access_token, now)
    subject = str(claims["sub"])
    info: dict[str, Any] = dict(claims)
    userinfo_endpoint = metadata.get("userinfo_endpoint")
    if "email" not in info and isinstance(userinfo_endpoint, str) and isinstance(access_token, str):
        info.update(await _userinfo(userinfo_endpoint, access_token, subject))
    email = None
    raw_email = info.get("email")
    if isinstance(raw_email, str) and info.get("email_verified") is True:
        try:
            email = normalize_email(raw_email)
        except FieldProblem:
            email = None
    name = info.get("name")
    return Claims(provider.issuer, subject, email, name if isinstance(name, str) else None)


async def _validate_id_token(
    rt: Runtime,
    provider: ProviderConfig,
    metadata: dict[str, Any],
    id_token: str,
    nonce: str,
    access_token: object,
    now: float,
) -> CodeIDToken:
    """Signature against the provider's JWKS (refetched once for an unknown kid), then iss, aud, azp, exp,
    iat, nonce and at_hash by Authlib's `CodeIDToken`."""
    algorithms = [a for a in metadata.get("id_token_signing_alg_values_supported") or ["RS256"] if a != "none"]
    registry = JWSRegistry(algorithms=algorithms)
    try:
        try:
            keys = KeySet.import_key_set(await rt.providers.jwks(provider, now))  # type: ignore[arg-type]
            decoded = jwt.decode(id_token, keys, registry=registry)
        except InvalidKeyIdError:
            keys = KeySet.import_key_set(await rt.providers.jwks(provider, now, refresh=True))  # type: ignore[arg-type]
            decoded = jwt.decode(id_token, keys, registry=registry)
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            {
                "iss": {"essential": True, "value": provider.issuer},
                "aud": {"essential": True, "value": provider.client_id},
                "sub": {"essential": True},
                "nonce": {"essential": True, "value": nonce},
            },
            {"nonce": nonce, "client_id": provider.client_id, "access_token": access_token},
        )
        claims.validate(now=int(now), leeway=ID_TOKEN_LEEWAY)
    except (JoseError, ValueError, ProviderUnavailable) as exc:
        raise _Rejected(f"id_token: {exc!r}"[:300]) from exc
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or iat > now + ID_TOKEN_LEEWAY or iat < now - ID_TOKEN_MAX_AGE:
        raise _Rejected(f"id_token iat {iat!r} is not recent")
    if not isinstance(claims.get("sub"), str) or not claims["sub"] or len(claims["sub"]) > 255:
        raise _Rejected("id_token sub")
    return claims


async def _userinfo(endpoint: str, access_token: str, subject: str) -> dict[str, Any]:
    """E-mail and name from the UserInfo endpoint when the ID token leaves them out; `sub` must match."""
    import httpx

    try:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False) as http:
            response = await http.get(endpoint, headers={"Authorization": f"Bearer {access_token}"})
            response.raise_for_status()
            data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise _Rejected(f"userinfo: {exc!r}"[:300]) from exc
    if not isinstance(data, dict) or data.get("sub") != subject:
        raise _Rejected("userinfo sub does not match the ID token")
    return {k: data[k] for k in ("email", "email_verified", "name") if k in data}


async def _account_for(rt: Runtime, provider: ProviderConfig, claims: Claims, client: ClientInfo) -> Account | Failed:
    """The linked account, or a new password-less one; never an existing account found by e-mail."""
    now = rt.clock.now()
    identity = (
        await FederatedIdentity.filter(issuer=claims.issuer, subject=claims.subject).select_related("account").first()
    )
    if identity is not None:
        account = identity.account
        if account.status != AccountStatus.ACTIVE:
            return Failed(FAILED_ACCOUNT)
        await FederatedIdentity.filter(id=identity.id).update(last_used_at=now, email=claims.email or identity.email)
        return account
    if claims.email and await Account.filter(email=claims.email).exists():
        await record(rt, "federation.email_taken", client=client, details={"provider": provider.id})
        return Failed(FAILED_EMAIL_TAKEN)
    full_name = " ".join((claims.name or "").split())[:200]
    if not full_name or has_control_characters(full_name):
        full_name = FULL_NAME_FALLBACK
    try:
        async with in_transaction():
            account = await Account.create(
                full_name=full_name,
                email=claims.email,
                email_verified=claims.email is not None,
                password_hash=None,
                preferred_language=client.locale,
            )
            await FederatedIdentity.create(
                account=account,
                provider=provider.id,
                issuer=claims.issuer,
                subject=claims.subject,
                email=claims.email,
                linked_at=now,
                last_used_at=now,
            )
            await record(
                rt,
                "account.created",
                actor_id=account.id,
                subject_id=account.id,
                client=client,
                details={"method": "fed", "provider": provider.id},
            )
    except IntegrityError:  # the same identity signed in twice at once, or the e-mail was taken meanwhile
        identity = (
            await FederatedIdentity.filter(issuer=claims.issuer, subject=claims.subject)
            .select_related("account")
            .first()
        )
        if identity is None:
            return Failed(FAILED_EMAIL_TAKEN)
        return identity.account
    return account


async def _browser_session(
    rt: Runtime, provider: ProviderConfig, flow: FederationFlow, account: Account, client: ClientInfo
) -> SignedIn:
    """A new session for the browser, written atomically with its `signin.success` audit record."""
    audit = record_statement(
        rt,
        "signin.success",
        actor_id=account.id,
        subject_id=account.id,
        client=client,
        details={"method": "fed", "provider": provider.id},
    )
    issued = await issue_session(rt, account, client, "fed", also=[audit])
    return SignedIn(issued, flow.return_to)


async def _finish_sign_in(
    rt: Runtime, provider: ProviderConfig, flow: FederationFlow, account: Account, client: ClientInfo
) -> SignedIn | CodeIssued:
    if flow.mobile:
        code = await _new_login_code(rt, account.id)
        return CodeIssued(with_query(flow.return_to, code=code))
    return await _browser_session(rt, provider, flow, account, client)


async def _finish_link(
    rt: Runtime, provider: ProviderConfig, flow: FederationFlow, claims: Claims, client: ClientInfo
) -> CallbackOutcome:
    """A signed-in resident's link: browsers link now; a mobile app links when it exchanges the code."""
    account = await Account.filter(id=flow.link_account_id, status=AccountStatus.ACTIVE).first()
    if account is None:
        return Failed(FAILED_ACCOUNT)
    identity = await FederatedIdentity.filter(issuer=claims.issuer, subject=claims.subject).first()
    if identity is not None and identity.account_id != account.id:  # type: ignore[attr-defined]
        await record(
            rt,
            "federation.link_refused",
            actor_id=account.id,
            subject_id=account.id,
            client=client,
            details={"provider": provider.id},
        )
        return Failed(FAILED_LINKED_ELSEWHERE)
    if flow.mobile:
        code = await _new_login_code(rt, account.id, provider, claims if identity is None else None)
        return CodeIssued(with_query(flow.return_to, code=code))
    if identity is None:
        linked = await _link(rt, account, provider, claims, client)
        if isinstance(linked, Failed):
            return linked
    return await _browser_session(rt, provider, flow, account, client)


async def _link(
    rt: Runtime, account: Account, provider: ProviderConfig, claims: Claims, client: ClientInfo
) -> FederatedIdentity | Failed:
    now = rt.clock.now()
    try:
        async with in_transaction():
            identity = await FederatedIdentity.create(
                account=account,
                provider=provider.id,
                issuer=claims.issuer,
                subject=claims.subject,
                email=claims.email,
                linked_at=now,
                last_used_at=now,
            )
            await record(
                rt,
                "federation.linked",
                actor_id=account.id,
                subject_id=account.id,
                client=client,
                details={"provider": provider.id},
            )
    except IntegrityError:
        return Failed(FAILED_LINKED_ELSEWHERE)
    return identity


# ---- mobile login codes --------------------------------------------------------------------------------


async def _new_login_code(
    rt: Runtime, account_id: UUID, provider: ProviderConfig | None = None, link: Claims | None = None
) -> str:
    code = new_token()
    now = rt.clock.now()
    await LoginCode.create(
        code_hash=rt.tokens.digest(LOGIN_CODE, code),
        account_id=account_id,
        link_provider=provider.id if provider and link else None,
        link_issuer=link.issuer if link else None,
        link_subject=link.subject if link else None,
        link_email=link.email if link else None,
        created_at=now,
        expires_at=now + timedelta(seconds=LOGIN_CODE_TTL),
    )
    return code


async def exchange_login_code(
    rt: Runtime, code: str, client: ClientInfo, caller: Account | None
) -> IssuedSession | CodeRefused | TooMany:
    """Spends a one-time login code for a new session. A link code works only for the account that started it."""
    too_many = await rt.throttle.hit(CODE_LIMIT, client.address)
    if too_many:
        return too_many
    if not code or len(code) > 128:
        return CodeRefused()
    now = rt.clock.now()
    code_hash = rt.tokens.digest(LOGIN_CODE, code)
    spent = await LoginCode.filter(code_hash=code_hash, used_at__isnull=True, expires_at__gt=now).update(used_at=now)
    if not spent:
        return CodeRefused()
    row = await LoginCode.get(code_hash=code_hash)
    account = await Account.filter(id=row.account_id, status=AccountStatus.ACTIVE).first()
    if account is None:
        return CodeRefused()
    provider_id = row.link_provider
    if row.link_issuer is not None and row.link_subject is not None:
        if caller is None or caller.id != account.id:
            return CodeRefused()
        provider = rt.providers.get(row.link_provider or "")
        if provider is None:
            return CodeRefused()
        linked = await _link(
            rt, account, provider, Claims(row.link_issuer, row.link_subject, row.link_email, None), client
        )
        if isinstance(linked, Failed):
            return CodeRefused()
    issued = await issue_session(rt, account, client, "fed")
    await record(
        rt,
        "signin.success",
        actor_id=account.id,
        subject_id=account.id,
        client=client,
        details={"method": "fed", "via": "login-code", **({"provider": provider_id} if provider_id else {})},
    )
    return issued


# ---- links ---------------------------------------------------------------------------------------------


async def linked_identities(rt: Runtime, account_id: UUID) -> list[Link]:
    rows = await FederatedIdentity.filter(account_id=account_id).order_by("linked_at")
    return [Link(r.provider, rt.providers.name_of(r.provider), r.email, r.linked_at) for r in rows]


async def linked_providers(rt: Runtime, account_id: UUID) -> list[str]:
    """The display names of the providers an account signs in with (for the "you sign in with …" letter)."""
    return list(dict.fromkeys(link.provider_name for link in await linked_identities(rt, account_id)))


async def unlink(
    rt: Runtime, account: Account, provider_id: str, client: ClientInfo
) -> Unlinked | NotLinked | LastWayToSignIn:
    """Removes the account's identities at a provider, unless nothing would be left to sign in with."""
    async with in_transaction():
        rows = await FederatedIdentity.filter(account_id=account.id).select_for_update()
        mine = [r for r in rows if r.provider == provider_id]
        if not mine:
            return NotLinked()
        fresh = await Account.get(id=account.id)
        if fresh.password_hash is None and len(mine) == len(rows):
            return LastWayToSignIn()
        await FederatedIdentity.filter(id__in=[r.id for r in mine]).delete()
        await record(
            rt,
            "federation.unlinked",
            actor_id=account.id,
            subject_id=account.id,
            client=client,
            details={"provider": provider_id},
        )
    return Unlinked(provider_id)
